import { describe, expect, it } from 'vitest';

import { fmtDuration, fmtTime, fmtValue, shortId } from '../src/format';

describe('fmtDuration', () => {
  it('is empty for a missing duration', () => {
    expect(fmtDuration(null)).toBe('');
    expect(fmtDuration(undefined)).toBe('');
  });
  it('shows milliseconds below one second', () => {
    expect(fmtDuration(0)).toBe('0 ms');
    expect(fmtDuration(0.0424)).toBe('42 ms');
    expect(fmtDuration(0.9996)).toBe('1000 ms');
  });
  it('shows seconds with one decimal below two minutes', () => {
    expect(fmtDuration(1)).toBe('1.0 s');
    expect(fmtDuration(12.345)).toBe('12.3 s');
    expect(fmtDuration(119.9)).toBe('119.9 s');
  });
  it('shows minutes and seconds from two minutes on', () => {
    expect(fmtDuration(120)).toBe('2 min 0 s');
    expect(fmtDuration(3725.4)).toBe('62 min 5 s');
  });
});

describe('fmtValue', () => {
  it('keeps integers exact', () => {
    expect(fmtValue(3)).toBe('3');
    expect(fmtValue(-12000000)).toBe('-12000000');
  });
  it('rounds other numbers to 4 significant digits without trailing zeros', () => {
    expect(fmtValue(0.912345)).toBe('0.9123');
    expect(fmtValue(0.5)).toBe('0.5');
    expect(fmtValue(2.25)).toBe('2.25');
    expect(fmtValue(1.00001)).toBe('1');
  });
  it('shows a dash for missing values', () => {
    expect(fmtValue(null)).toBe('–');
    expect(fmtValue(undefined)).toBe('–');
  });
  it('shows strings as they are and other values as JSON', () => {
    expect(fmtValue('rf')).toBe('rf');
    expect(fmtValue(true)).toBe('true');
    expect(fmtValue([1, 'a'])).toBe('[1,"a"]');
    expect(fmtValue({ depth: 3 })).toBe('{"depth":3}');
  });
});

describe('fmtTime', () => {
  it('is empty for a missing time', () => {
    expect(fmtTime(null)).toBe('');
    expect(fmtTime(undefined)).toBe('');
  });
  it('shows only the time for today', () => {
    const now = Date.now() / 1000;
    expect(fmtTime(now)).toBe(new Date(now * 1000).toLocaleTimeString());
  });
  it('shows date and time for another day', () => {
    const t = Date.UTC(2020, 0, 2, 12, 0, 0) / 1000;
    const d = new Date(t * 1000);
    expect(fmtTime(t)).toBe(`${d.toLocaleDateString()} ${d.toLocaleTimeString()}`);
  });
});

describe('shortId', () => {
  it('keeps the first 8 characters', () => {
    expect(shortId('0123456789abcdef')).toBe('01234567');
    expect(shortId('abc')).toBe('abc');
  });
});
