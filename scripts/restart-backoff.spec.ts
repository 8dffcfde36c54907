import { MAX_RESTART_DELAY_MS, RestartBackoff, STABLE_RUN_MS } from './restart-backoff';

describe('RestartBackoff', () => {
  it('doubles the wait for crashes in a row up to 30 s, and keeps restarting past any count', () => {
    const sut = new RestartBackoff();
    const delays = Array.from({ length: 100 }, () => sut.next(2_000));
    expect(delays.slice(0, 7)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(delays.at(-1)).toBe(MAX_RESTART_DELAY_MS);
  });

  it('starts again from the first wait once an app ran a minute before it exited', () => {
    const sut = new RestartBackoff();
    for (let i = 0; i < 10; i++) sut.next(500);
    expect(sut.next(STABLE_RUN_MS)).toBe(1_000);
    expect(sut.next(500)).toBe(2_000);
  });
});
