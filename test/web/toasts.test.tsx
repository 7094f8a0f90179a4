// @vitest-environment jsdom
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ToastProvider, useToast } from '../../web/src/components/ui.js';

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

function Notifier() {
  const notify = useToast();
  return (
    <button type="button" onClick={() => notify({ message: 'Saved' }, 5000)}>
      notify
    </button>
  );
}

describe('toasts', () => {
  it('a toast goes away after its timeout', () => {
    vi.useFakeTimers();
    render(
      <ToastProvider>
        <Notifier />
      </ToastProvider>,
    );
    act(() => screen.getByRole('button', { name: 'notify' }).click());
    expect(screen.getByText('Saved')).toBeTruthy();
    act(() => vi.advanceTimersByTime(5000));
    expect(screen.queryByText('Saved')).toBeNull();
  });

  it('unmounting the provider cancels its toasts\' timers, so none fires into a torn-down page', () => {
    vi.useFakeTimers();
    const view = render(
      <ToastProvider>
        <Notifier />
      </ToastProvider>,
    );
    act(() => screen.getByRole('button', { name: 'notify' }).click());
    act(() => screen.getByRole('button', { name: 'notify' }).click());
    expect(vi.getTimerCount()).toBe(2);
    view.unmount();
    expect(vi.getTimerCount()).toBe(0);
  });
});
