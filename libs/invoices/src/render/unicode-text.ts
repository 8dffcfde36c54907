/**
 * Text preparation for invoice PDFs: which strings the standard (WinAnsi) fonts can print, and the
 * visual order of right-to-left text. Pure functions, so the same string always gives the same
 * bytes.
 */

/**
 * Characters above U+00FF that WinAnsiEncoding has (in 0x80-0x9F). pdfkit's standard fonts map
 * exactly these; anything else above U+00FF is written as a 3- or 4-digit hex code that shifts
 * every following byte of the run, so such text must go to the embedded font.
 */
const WIN_ANSI_EXTRA = new Set(
  [
    0x0152, 0x0153, 0x0160, 0x0161, 0x0178, 0x017d, 0x017e, 0x0192, 0x02c6, 0x02dc, 0x2013, 0x2014, 0x2018,
    0x2019, 0x201a, 0x201c, 0x201d, 0x201e, 0x2020, 0x2021, 0x2022, 0x2026, 0x2030, 0x2039, 0x203a, 0x20ac,
    0x2122,
  ].map((code) => String.fromCharCode(code)),
);

/**
 * NFC (so "o" + combining acute prints as one "ó"), line breaks as "\n" (pdfkit breaks the line
 * there), and other control characters as spaces: they have no glyph, and below 0x10 pdfkit's
 * standard fonts write one as a single hex digit.
 */
export function cleanText(text: string): string {
  return text
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(/[^\P{Cc}\n]/gu, ' ');
}

/** True when the standard Helvetica fonts print every character of `text` (after cleanText). */
export function isWinAnsi(text: string): boolean {
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (code < 0x80 || (code >= 0xa0 && code <= 0xff)) continue;
    if (!WIN_ANSI_EXTRA.has(char)) return false;
  }
  return true;
}

/** What a character does to the direction of a line (a reduced set of the Unicode bidi classes). */
type BidiClass = 'L' | 'R' | 'EN' | 'SEP' | 'N';

/** Hebrew, Arabic, Syriac, Thaana, NKo and their presentation forms: written right to left. */
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/u;
const DIGIT = /\p{Nd}/u;
const LETTER = /[\p{L}\p{M}]/u;
/** Separators that stay inside a number ("12,500", "1.5", "03-1234", "10/2"). */
const NUMBER_SEPARATOR = /[,.:/+\-\u00a0]/u;

function bidiClass(char: string): BidiClass {
  if (DIGIT.test(char)) return 'EN';
  if (RTL.test(char)) return 'R';
  if (LETTER.test(char)) return 'L';
  if (NUMBER_SEPARATOR.test(char)) return 'SEP';
  return 'N';
}

export function hasRightToLeft(text: string): boolean {
  return RTL.test(text);
}

/** One piece of a line drawn in one direction; `text` is in logical order. */
export interface DirectionalRun {
  text: string;
  rtl: boolean;
}

/**
 * The runs of one line in visual order (left to right), by a reduced Unicode bidi algorithm
 * (UAX #9 for one line without explicit embeddings): the paragraph direction is that of the first
 * strong letter; digits read left to right, with a single separator between digits kept in the
 * number (W4), and take the direction of the letters before them (W7); other neutral characters
 * between two letters of one direction take it, otherwise the paragraph's (N1, N2); levels and
 * reordering as in I1, I2 and L2. Mirrored brackets (L4) are left to the font's shaping.
 */
export function visualRuns(line: string): DirectionalRun[] {
  const chars = Array.from(line);
  const classes = chars.map(bidiClass);
  // Combining marks (classified L by LETTER) belong to their base character.
  for (let i = 1; i < chars.length; i++) if (/\p{M}/u.test(chars[i])) classes[i] = classes[i - 1];
  const firstStrong = classes.find((c) => c === 'L' || c === 'R');
  const paragraph: 'L' | 'R' = firstStrong === 'R' ? 'R' : 'L';

  // W4: a single separator between two digits is part of the number.
  for (let i = 1; i < chars.length - 1; i++) {
    if (classes[i] === 'SEP' && classes[i - 1] === 'EN' && classes[i + 1] === 'EN') classes[i] = 'EN';
  }
  // W7: digits after a left-to-right letter (or at the start of an LTR paragraph) are left to right.
  let lastStrong: 'L' | 'R' = paragraph;
  const resolved = classes.map((c): 'L' | 'R' | 'EN' | 'N' => {
    if (c === 'L' || c === 'R') lastStrong = c;
    if (c === 'EN') return lastStrong === 'L' ? 'L' : 'EN';
    return c === 'SEP' ? 'N' : c;
  });
  // N1, N2: neutrals between two of one direction (digits count as R) take it, else the paragraph's.
  const direction = (c: 'L' | 'R' | 'EN' | 'N') => (c === 'L' ? 'L' : c === 'N' ? null : 'R');
  for (let i = 0; i < resolved.length;) {
    if (resolved[i] !== 'N') {
      i++;
      continue;
    }
    let end = i;
    while (end < resolved.length && resolved[end] === 'N') end++;
    const before = i === 0 ? paragraph : direction(resolved[i - 1]);
    const after = end === resolved.length ? paragraph : direction(resolved[end]);
    const side = before === after ? before! : paragraph;
    for (let k = i; k < end; k++) resolved[k] = side;
    i = end;
  }
  // I1, I2: embedding levels.
  const base = paragraph === 'R' ? 1 : 0;
  const levels = resolved.map((c) => {
    if (c === 'R') return 1;
    if (c === 'L') return base === 0 ? 0 : 2;
    return 2; // digits
  });

  const runs: { text: string; level: number }[] = [];
  chars.forEach((char, i) => {
    const last = runs[runs.length - 1];
    if (last && last.level === levels[i]) last.text += char;
    else runs.push({ text: char, level: levels[i] });
  });
  // L2: from the highest level down to the lowest odd one, reverse every stretch at or above it.
  const highest = Math.max(0, ...runs.map((run) => run.level));
  const lowestOdd = Math.min(...runs.map((run) => (run.level % 2 === 1 ? run.level : Infinity)));
  for (let level = highest; level >= lowestOdd && level > 0; level--) {
    for (let i = 0; i < runs.length;) {
      if (runs[i].level < level) {
        i++;
        continue;
      }
      let end = i;
      while (end < runs.length && runs[end].level >= level) end++;
      runs.splice(i, end - i, ...runs.slice(i, end).reverse());
      i = end;
    }
  }
  return runs.map((run) => ({ text: run.text, rtl: run.level % 2 === 1 }));
}
