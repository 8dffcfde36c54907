import { cleanText, isWinAnsi, visualRuns } from './unicode-text';

describe('isWinAnsi', () => {
  it('accepts what the standard fonts print: ASCII, Latin-1 and the WinAnsi extras', () => {
    expect(isWinAnsi('Müller & Søn, 12 €, “quoted” – Visa •••• 4242 ™')).toBe(true);
  });

  it('refuses anything else', () => {
    for (const text of ['Łódź', 'Ромашка', 'İstanbul', 'Ελλάδα', 'שלום', '東京'])
      expect(isWinAnsi(text)).toBe(false);
  });
});

describe('cleanText', () => {
  it('composes characters and turns control characters into spaces', () => {
    expect(cleanText('Lo\u0301dz\u0301\tSp\u00f3\u0142ka\u0007\u0085')).toBe('Lódź Spółka  ');
  });

  it('keeps line breaks, as "\\n"', () => {
    expect(cleanText('Dept. 7\r\nFloor 2\rRoom 3\nDesk 4')).toBe('Dept. 7\nFloor 2\nRoom 3\nDesk 4');
  });
});

describe('visualRuns', () => {
  const runs = (line: string) => visualRuns(line).map((run) => [run.text, run.rtl]);

  it('keeps a left-to-right line as one run', () => {
    expect(runs('Łódź Spółka z o.o.')).toEqual([['Łódź Spółka z o.o.', false]]);
  });

  it('keeps a Hebrew line as one right-to-left run, punctuation included', () => {
    expect(runs('חברת הדוגמה בע"מ')).toEqual([['חברת הדוגמה בע"מ', true]]);
  });

  it('puts the number of a Hebrew address on the left, read left to right', () => {
    expect(runs('רחוב הרצל 12')).toEqual([
      ['12', false],
      ['רחוב הרצל ', true],
    ]);
  });

  it('keeps a single separator inside a number', () => {
    expect(runs('טל. 03-1234567')).toEqual([
      ['03-1234567', false],
      ['טל. ', true],
    ]);
  });

  it('leaves Latin words of a Hebrew line in their order, and Hebrew words of a Latin line', () => {
    expect(runs('Acme שלום Ltd')).toEqual([
      ['Acme ', false],
      ['שלום', true],
      [' Ltd', false],
    ]);
    expect(runs('שלום Acme Ltd עולם')).toEqual([
      [' עולם', true],
      ['Acme Ltd', false],
      ['שלום ', true],
    ]);
  });
});
