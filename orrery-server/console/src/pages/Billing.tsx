// `/billing`: the plan, the subscription's status and period, the trial; upgrade through Stripe
// Checkout, the billing portal, plan changes, cancel and resume. Checkout returns here with
// `?checkout=success|canceled`.

import { useEffect, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { BillingState, Plan } from '../api/types';
import { Confirm, Loading, PageTitle, ProblemNotice, TableWrap, capitalize, formatDate, money } from '../components/ui';
import { api, client } from '../state/session';
import { useAction, useLoad } from '../state/useLoad';

const PAID: Plan[] = ['pro', 'enterprise'];
const PLAN_TEXT: Record<Plan, string> = {
  free: 'A few graphs and keys to try Orrery.',
  pro: 'More graphs, nodes, calls and keys; custom agents and private graphs.',
  enterprise: 'The highest limits and priority support.',
};

/** Whether a subscription status still grants its plan (as the server decides it). */
function grants(status: string): boolean {
  return status === 'active' || status === 'trialing' || status === 'past_due';
}

export function Component() {
  const [params, setParams] = useSearchParams();
  const checkout = params.get('checkout');
  const wanted = params.get('plan');
  const billing = useLoad('billing', () => api.billing.state());
  const [polls, setPolls] = useState(0);
  const b = billing.data;
  const reload = billing.reload;

  // After Checkout, Stripe's webhook sets the plan; look again a few times until it has.
  const waiting = checkout === 'success' && b !== undefined && !(b.subscription && grants(b.subscription.status));
  useEffect(() => {
    if (!waiting || polls >= 10) return;
    const t = window.setTimeout(() => {
      setPolls((p) => p + 1);
      reload();
    }, 1500);
    return () => window.clearTimeout(t);
  }, [waiting, polls, reload]);

  // Keep the header's account (plan) in step.
  useEffect(() => {
    if (!b) return;
    void client.request<{ user: Parameters<typeof client.setUser>[0] }>('/api/auth/me').then(
      (r) => client.setUser(r.user),
      () => undefined,
    );
  }, [b]);

  return (
    <div>
      <PageTitle>Billing</PageTitle>
      {checkout === 'success' && (
        <div className={`notice ${waiting ? 'notice-info' : 'notice-ok'}`} role="status">
          <p>
            {waiting
              ? polls >= 10
                ? 'Payment received. Your plan changes as soon as the payment provider confirms it; reload this page in a minute.'
                : 'Payment received. Waiting for the payment provider to confirm it…'
              : `Thank you: your account is on the ${capitalize(b?.subscription?.plan ?? b?.plan ?? '')} plan.`}
          </p>
        </div>
      )}
      {checkout === 'canceled' && (
        <div className="notice notice-info" role="status">
          <p>Checkout was canceled; nothing was charged.</p>
          <p>
            <button type="button" onClick={() => setParams({})}>
              Dismiss
            </button>
          </p>
        </div>
      )}
      {billing.error ? <ProblemNotice problem={billing.error} onRetry={billing.reload} /> : null}
      {b ? <BillingBody state={b} wanted={wanted} onChange={billing.setData} /> : !billing.error && <Loading />}
    </div>
  );
}

function BillingBody({ state, wanted, onChange }: { state: BillingState; wanted: string | null; onChange: (s: BillingState) => void }) {
  const sub = state.subscription;
  const active = sub !== null && grants(sub.status);
  const [now] = useState(() => Date.now());
  const trialLeft = state.trial_ends_at && Date.parse(state.trial_ends_at) > now;
  const returnUrl = `${window.location.origin}/billing`;
  const checkout = useAction(async (plan: Plan) => {
    const r = await api.billing.checkout(plan, returnUrl);
    window.location.assign(r.checkout_url);
  });
  const portal = useAction(async () => {
    const r = await api.billing.portal(returnUrl);
    window.location.assign(r.portal_url);
  });
  const change = useAction((plan: Plan) => api.billing.changePlan(plan));
  const cancel = useAction(() => api.billing.cancel());
  const resume = useAction(() => api.billing.resume());
  const [confirm, setConfirm] = useState<{ kind: 'change'; plan: Plan } | { kind: 'cancel' } | null>(null);
  const problem = checkout.error ?? portal.error ?? change.error ?? cancel.error ?? resume.error;

  return (
    <>
      <section className="panel" aria-labelledby="plan-title">
        <h2 id="plan-title">Your plan</h2>
        <dl className="facts">
          <dt>Plan</dt>
          <dd>
            <strong>{capitalize(state.plan)}</strong>
            {state.effective_plan !== state.plan && ` (${capitalize(state.effective_plan)} limits apply during the trial)`}
          </dd>
          {sub && (
            <>
              <dt>Subscription</dt>
              <dd>
                {capitalize(sub.plan)}, {sub.status.replace(/_/g, ' ')}
              </dd>
              <dt>{sub.cancel_at_period_end ? 'Ends on' : 'Renews on'}</dt>
              <dd>{formatDate(sub.current_period_end)}</dd>
            </>
          )}
          <dt>Trial</dt>
          <dd>
            {state.trial_ends_at
              ? `${trialLeft ? 'Ends' : 'Ended'} ${formatDate(state.trial_ends_at)}`
              : 'None'}
          </dd>
        </dl>
        {sub?.cancel_at_period_end && (
          <p>
            The subscription is canceled and ends on {formatDate(sub.current_period_end)}; the account then returns to
            the Free plan.
          </p>
        )}
      </section>
      <ProblemNotice problem={problem} />
      {!state.billing_enabled ? (
        <div className="notice notice-info" role="status">
          <p>This server does not take payments (no payment provider is configured). Its operator can change your plan.</p>
        </div>
      ) : (
        <section aria-labelledby="plans-title">
          <h2 id="plans-title">Plans</h2>
          <ul className="cards plans">
            {(['free', ...PAID] as Plan[]).map((plan) => {
              const current = active ? sub.plan === plan : state.plan === plan;
              return (
                <li key={plan} className={`card ${current ? 'current' : ''} ${wanted === plan ? 'wanted' : ''}`}>
                  <h3>{capitalize(plan)}</h3>
                  <p>{PLAN_TEXT[plan]}</p>
                  {current ? (
                    <p className="badge ok">Current plan</p>
                  ) : plan === 'free' ? (
                    active && !sub.cancel_at_period_end ? (
                      <button type="button" onClick={() => setConfirm({ kind: 'cancel' })}>
                        Cancel subscription
                      </button>
                    ) : null
                  ) : active ? (
                    <button type="button" className="primary" onClick={() => setConfirm({ kind: 'change', plan })}>
                      Switch to {capitalize(plan)}
                    </button>
                  ) : (
                    <button type="button" className="primary" disabled={checkout.busy} onClick={() => void checkout.run(plan)}>
                      Upgrade to {capitalize(plan)}
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
          <div className="actions">
            {active && sub.cancel_at_period_end && (
              <button
                type="button"
                className="primary"
                disabled={resume.busy}
                onClick={async () => {
                  const r = await resume.run();
                  if (r) onChange(r);
                }}
              >
                Resume the subscription
              </button>
            )}
            {sub && (
              <button type="button" disabled={portal.busy} onClick={() => void portal.run()}>
                Manage payment methods and invoices
              </button>
            )}
          </div>
        </section>
      )}
      {state.billing_enabled && <Invoices />}
      <Confirm
        open={confirm?.kind === 'change'}
        title={confirm?.kind === 'change' ? `Switch to ${capitalize(confirm.plan)}?` : ''}
        confirmLabel="Switch plan"
        busy={change.busy}
        onCancel={() => setConfirm(null)}
        onConfirm={async () => {
          if (confirm?.kind !== 'change') return;
          const r = await change.run(confirm.plan);
          setConfirm(null);
          if (r) onChange(r);
        }}
      >
        <p>The new limits apply at once; the price difference is prorated on your next invoice.</p>
      </Confirm>
      <Confirm
        open={confirm?.kind === 'cancel'}
        title="Cancel the subscription?"
        confirmLabel="Cancel at period end"
        danger
        busy={cancel.busy}
        onCancel={() => setConfirm(null)}
        onConfirm={async () => {
          const r = await cancel.run();
          setConfirm(null);
          if (r) onChange(r);
        }}
      >
        <p>
          Your plan stays until {formatDate(sub?.current_period_end)}; then the account returns to the Free plan. You can
          resume before then.
        </p>
      </Confirm>
    </>
  );
}

/** The account's invoices from the payment provider, newest first. */
function Invoices() {
  const invoices = useLoad('invoices', () => api.billing.invoices());
  const list = invoices.data?.invoices;
  return (
    <section aria-labelledby="invoices-title">
      <h2 id="invoices-title">Invoices</h2>
      {invoices.error ? <ProblemNotice problem={invoices.error} onRetry={invoices.reload} /> : null}
      {list === undefined ? (
        !invoices.error && <Loading />
      ) : list.length === 0 ? (
        <p className="muted">No invoices yet.</p>
      ) : (
        <TableWrap label="Invoices">
          <table>
            <thead>
              <tr>
                <th scope="col">Invoice</th>
                <th scope="col">Date</th>
                <th scope="col">Period</th>
                <th scope="col">Amount</th>
                <th scope="col">Status</th>
                <th scope="col">Documents</th>
              </tr>
            </thead>
            <tbody>
              {list.map((i) => (
                <tr key={i.id}>
                  <td>{i.number ?? i.id}</td>
                  <td>{formatDate(i.created)}</td>
                  <td>
                    {formatDate(i.period_start)} – {formatDate(i.period_end)}
                  </td>
                  <td>{money(i.total, i.currency)}</td>
                  <td>{capitalize(i.status)}</td>
                  <td>
                    {i.hosted_invoice_url && (
                      <a href={i.hosted_invoice_url} rel="noreferrer noopener" target="_blank">
                        View<span className="visually-hidden"> invoice {i.number ?? i.id}</span>
                      </a>
                    )}
                    {i.hosted_invoice_url && i.invoice_pdf && ' · '}
                    {i.invoice_pdf && (
                      <a href={i.invoice_pdf} rel="noreferrer noopener" target="_blank">
                        PDF<span className="visually-hidden"> of invoice {i.number ?? i.id}</span>
                      </a>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </section>
  );
}
