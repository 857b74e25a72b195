// `/usage`: this month's calls, graphs and processing time against the plan's limits, the
// trial's days left, and the history of calls by day, week or month.

import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import type { Granularity } from '../api/types';
import { UsageChart } from '../components/UsageChart';
import { Loading, Meter, TableWrap, PageTitle, ProblemNotice, capitalize, formatBytes, formatDate, formatNumber } from '../components/ui';
import { api } from '../state/session';
import { rangeFor } from '../state/usage';
import { useLoad } from '../state/useLoad';

export function Component() {
  const usage = useLoad('usage', () => api.usage.current());
  const [granularity, setGranularity] = useState<Granularity>('day');
  const history = useLoad(granularity, () => api.usage.history({ granularity, ...rangeFor(granularity, new Date()) }));
  const filled = useMemo(() => {
    const data = history.data?.data;
    return data
      ? { periods: data.map((p) => p.date), calls: data.map((p) => p.api_calls), graphs: data.map((p) => p.graphs_created) }
      : null;
  }, [history.data]);
  const u = usage.data;
  return (
    <div>
      <PageTitle>Usage</PageTitle>
      {usage.error ? <ProblemNotice problem={usage.error} onRetry={usage.reload} /> : null}
      {u ? (
        <section className="panel" aria-labelledby="period-title">
          <h2 id="period-title">
            This period: {formatDate(u.current_period.start)} to {formatDate(new Date(Date.parse(u.current_period.end) - 1).toISOString())}
          </h2>
          <p>
            Plan: <strong>{capitalize(u.plan)}</strong>
            {u.trial_days_remaining !== null && (
              <>
                {' '}
                (trial, {u.trial_days_remaining} day{u.trial_days_remaining === 1 ? '' : 's'} left:{' '}
                <Link to="/billing">choose a plan</Link>)
              </>
            )}
          </p>
          <Meter label="API calls" value={u.current_period.api_calls} max={u.limits.api_calls} />
          <Meter label="Graphs" value={u.current_period.graphs} max={u.limits.graphs_created} />
          <Meter
            label="Storage"
            format={formatBytes}
            value={u.current_period.stored_bytes}
            max={typeof u.plan_limits.stored_bytes === 'number' ? u.plan_limits.stored_bytes : null}
          />
          <p>
            {formatNumber(u.current_period.graphs_created)} graph{u.current_period.graphs_created === 1 ? '' : 's'} created
            this period · {formatNumber(Math.round(u.current_period.monitoring_time * 10) / 10)} s of run time (server
            time your calls used)
          </p>
        </section>
      ) : (
        !usage.error && <Loading />
      )}
      <section className="panel" aria-labelledby="history-title">
        <div className="section-head">
          <h2 id="history-title">API calls over time</h2>
          <label>
            By{' '}
            <select value={granularity} onChange={(e) => setGranularity(e.target.value as Granularity)}>
              <option value="day">day (30 days)</option>
              <option value="week">week (12 weeks)</option>
              <option value="month">month (12 months)</option>
            </select>
          </label>
        </div>
        {history.error ? <ProblemNotice problem={history.error} onRetry={history.reload} /> : null}
        {filled ? (
          <>
            <UsageChart
              periods={filled.periods}
              calls={filled.calls}
              label={`API calls by ${granularity}, ${formatNumber(filled.calls.reduce((a, b) => a + b, 0))} in all`}
            />
            <details>
              <summary>Show as a table</summary>
              <TableWrap label="API calls and graphs created by period">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{capitalize(granularity)} starting</th>
                      <th scope="col">API calls</th>
                      <th scope="col">Graphs created</th>
                    </tr>
                  </thead>
                  <tbody>
                    {filled.periods.map((p, i) => (
                      <tr key={p}>
                        <td>{p}</td>
                        <td>{formatNumber(filled.calls[i] ?? 0)}</td>
                        <td>{formatNumber(filled.graphs[i] ?? 0)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableWrap>
            </details>
          </>
        ) : (
          !history.error && <Loading />
        )}
      </section>
    </div>
  );
}
