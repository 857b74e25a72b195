// The console's entry: the routes (each page is its own chunk, loaded on navigation), the
// session restored from the refresh cookie, and the shell around every page.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import './styles.css';
import { client } from './state/session';
import { Root, RequireAuth, RouteError } from './components/Shell';
import { Component as NotFound } from './pages/NotFound';

void client.restore();

const router = createBrowserRouter([
  {
    element: <Root />,
    errorElement: <RouteError />,
    HydrateFallback: () => null,
    children: [
      { index: true, lazy: () => import('./pages/Home') },
      { path: 'signin', lazy: () => import('./pages/SignIn') },
      { path: 'signup', lazy: () => import('./pages/SignUp') },
      { path: 'forgot-password', lazy: () => import('./pages/ForgotPassword') },
      { path: 'reset-password', lazy: () => import('./pages/ResetPassword') },
      { path: 'confirm-email', lazy: () => import('./pages/ConfirmEmail') },
      {
        element: <RequireAuth />,
        children: [
          { path: 'graphs', lazy: () => import('./pages/Graphs') },
          { path: 'graphs/:id', lazy: () => import('./pages/GraphDetail') },
          { path: 'agents', lazy: () => import('./pages/Agents') },
          { path: 'keys', lazy: () => import('./pages/Keys') },
          { path: 'usage', lazy: () => import('./pages/Usage') },
          { path: 'billing', lazy: () => import('./pages/Billing') },
          { path: 'settings', lazy: () => import('./pages/Settings') },
          { path: 'admin', lazy: () => import('./pages/Admin') },
        ],
      },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <RouterProvider router={router} />
    </StrictMode>,
  );
}
