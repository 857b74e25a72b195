// Applies the saved theme before the first paint. A file of its own because the CSP allows no
// inline script; index.html loads it first, blocking, before any stylesheet.
(function () {
  var theme = 'system';
  try {
    theme = localStorage.getItem('orrery.theme') || 'system';
  } catch {
    // Storage can be disabled; the system's choice applies.
  }
  var dark =
    theme === 'dark' ||
    (theme !== 'light' && window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.setAttribute('data-theme', dark ? 'dark' : 'light');
})();
