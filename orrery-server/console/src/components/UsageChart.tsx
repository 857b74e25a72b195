// The history chart (uPlot), drawn in the theme's colours and redrawn when the theme or the
// width changes. A table beside it carries the same figures for screen readers.

import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export function UsageChart({ periods, calls, label }: { periods: string[]; calls: number[]; label: string }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    let plot: uPlot | null = null;
    const draw = () => {
      plot?.destroy();
      const css = getComputedStyle(document.documentElement);
      const color = (name: string) => css.getPropertyValue(name).trim();
      const xs = periods.map((p) => Date.parse(`${p}T00:00:00Z`) / 1000);
      plot = new uPlot(
        {
          width: Math.max(280, el.clientWidth),
          height: 260,
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { y: { range: (_u, _min, max) => [0, Math.max(5, max * 1.1)] } },
          axes: [
            { stroke: color('--text-muted'), grid: { stroke: color('--border') }, ticks: { stroke: color('--border') } },
            { stroke: color('--text-muted'), grid: { stroke: color('--border') }, ticks: { stroke: color('--border') } },
          ],
          series: [
            {},
            {
              label: 'API calls',
              stroke: color('--accent'),
              fill: color('--accent-soft'),
              width: 2,
              points: { show: periods.length <= 31 },
            },
          ],
        },
        [xs, calls],
        el,
      );
    };
    draw();
    const themeObserver = new MutationObserver(draw);
    themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    let width = el.clientWidth;
    const resize = new ResizeObserver(() => {
      if (Math.abs(el.clientWidth - width) < 8) return;
      width = el.clientWidth;
      plot?.setSize({ width: Math.max(280, width), height: 260 });
    });
    resize.observe(el);
    return () => {
      themeObserver.disconnect();
      resize.disconnect();
      plot?.destroy();
    };
  }, [periods, calls]);
  return <div ref={ref} className="chart" role="img" aria-label={label} />;
}
