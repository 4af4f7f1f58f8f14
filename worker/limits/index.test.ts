/**
 * The rate limiters alone: sessions per address per minute (window, retry time, memory bound) and
 * the per-session frame rate; which address a request counts against.
 */
import { describe, expect, it } from 'vitest';
import { MessageRate, SessionRateLimiter, clientAddress, ipv6Prefix64 } from './index.ts';

describe('SessionRateLimiter', () => {
  it('allows `limit` sessions per address per minute, then says how many seconds to wait', () => {
    const l = new SessionRateLimiter();
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect(l.take('192.0.2.1', 3, t0 + i)).toBeUndefined();
    expect(l.take('192.0.2.1', 3, t0 + 10)).toBe(60);
    expect(l.take('192.0.2.1', 3, t0 + 45_500)).toBe(15);
    // Another address has its own count.
    expect(l.take('192.0.2.2', 3, t0 + 10)).toBeUndefined();
    // A new window starts a minute after the first session.
    expect(l.take('192.0.2.1', 3, t0 + 60_000)).toBeUndefined();
  });

  it('with a limit of 0, or without an address, never refuses', () => {
    const l = new SessionRateLimiter();
    for (let i = 0; i < 100; i++) {
      expect(l.take('192.0.2.1', 0, i)).toBeUndefined();
      expect(l.take(undefined, 1, i)).toBeUndefined();
    }
  });

  it('remembers at most 10,000 addresses however many call', () => {
    const l = new SessionRateLimiter();
    for (let i = 0; i < 25_000; i++) l.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 5, 1_000 + i);
    expect(l.size).toBeLessThanOrEqual(10_000);
  });
});

describe('MessageRate', () => {
  it('allows a burst of N frames, then N per second', () => {
    const r = new MessageRate(10, 0);
    for (let i = 0; i < 10; i++) expect(r.take(0)).toBe(true);
    expect(r.take(0)).toBe(false);
    expect(r.take(50)).toBe(false); // half a frame's worth
    expect(r.take(100)).toBe(true);
    expect(r.take(100)).toBe(false);
    expect(r.take(5_000)).toBe(true);
  });

  it('a steady rate under the limit is never refused', () => {
    const r = new MessageRate(50, 0);
    for (let t = 0; t < 10_000; t += 25) expect(r.take(t)).toBe(true);
  });
});

describe('clientAddress', () => {
  const headers = (ip?: string, extra: Record<string, string> = {}): Headers => new Headers({ ...(ip === undefined ? {} : { 'CF-Connecting-IP': ip }), ...extra });

  it('is CF-Connecting-IP, never X-Forwarded-For', () => {
    expect(clientAddress(headers('198.51.100.7', { 'X-Forwarded-For': '203.0.113.1' }))).toBe('198.51.100.7');
    expect(clientAddress(headers(undefined, { 'X-Forwarded-For': '203.0.113.1' }))).toBeUndefined();
  });

  it('counts IPv6 per /64 and IPv4-mapped IPv6 as IPv4', () => {
    expect(clientAddress(headers('2001:db8:1:2:3:4:5:6'))).toBe('2001:db8:1:2::/64');
    expect(clientAddress(headers('2001:db8:1:2::99'))).toBe('2001:db8:1:2::/64');
    expect(clientAddress(headers('::ffff:192.0.2.9'))).toBe('192.0.2.9');
    expect(ipv6Prefix64('2001:0db8::1')).toBe('2001:db8:0:0::/64');
    expect(ipv6Prefix64('::1')).toBe('0:0:0:0::/64');
    expect(ipv6Prefix64('[fe80::1%eth0]')).toBe('fe80:0:0:0::/64');
  });
});
