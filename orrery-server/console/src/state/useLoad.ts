// Loading data for a page: the answer, the problem, and a way to load again.

import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';

export interface Loaded<T> {
  /** The latest answer (kept while a new one loads). */
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  /** Replaces the data after a change the page made itself. */
  setData: (data: T) => void;
}

/** Runs `load` when `key` changes (and on `reload`); a stale answer is dropped. */
export function useLoad<T>(key: string, load: () => Promise<T>): Loaded<T> {
  const [nonce, setNonce] = useState(0);
  const current = `${nonce}#${key}`;
  const [state, setState] = useState<{ for: string | null; data: T | undefined; error: unknown }>({
    for: null,
    data: undefined,
    error: null,
  });
  const loadRef = useRef(load);
  useLayoutEffect(() => {
    loadRef.current = load;
  });

  useEffect(() => {
    let live = true;
    loadRef.current().then(
      (data) => live && setState({ for: current, data, error: null }),
      (error: unknown) => live && setState((s) => ({ for: current, data: s.data, error })),
    );
    return () => {
      live = false;
    };
  }, [current]);

  const loading = state.for !== current;
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const setData = useCallback((data: T) => setState((s) => ({ ...s, data, error: null })), []);
  return { data: state.data, error: loading ? null : state.error, loading, reload, setData };
}

/** Runs an action (a form's submit), tracking whether it runs and what went wrong. */
export function useAction<A extends unknown[], R>(
  action: (...args: A) => Promise<R>,
): { run: (...args: A) => Promise<R | undefined>; busy: boolean; error: unknown; reset: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const actionRef = useRef(action);
  useLayoutEffect(() => {
    actionRef.current = action;
  });
  const run = useCallback(async (...args: A) => {
    setBusy(true);
    setError(null);
    try {
      return await actionRef.current(...args);
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  const reset = useCallback(() => setError(null), []);
  return { run, busy, error, reset };
}
