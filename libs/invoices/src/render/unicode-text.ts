import bidiFactory from 'bidi-js';

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

/** Hebrew, Arabic, Syriac, Thaana, NKo and their presentation forms: written right to left. */
const RTL = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/u;

const bidi = bidiFactory();

export function hasRightToLeft(text: string): boolean {
  return RTL.test(text);
}

/** One piece of a line drawn in one direction; `text` is in logical order. */
export interface DirectionalRun {
  text: string;
  rtl: boolean;
}

/**
 * The runs of one line in visual order (left to right): embedding levels from bidi-js (the
 * Unicode bidi algorithm, UAX #9, paragraph direction from the first strong character), each run a
 * stretch of one level, then reordered as rule L2 says. Mirrored brackets (L4) are left to the
 * font's shaping.
 */
export function visualRuns(line: string): DirectionalRun[] {
  const { levels } = bidi.getEmbeddingLevels(line);
  const runs: { text: string; level: number }[] = [];
  // By UTF-16 unit, as bidi-js counts: both halves of a surrogate pair get the same level.
  for (let i = 0; i < line.length; i++) {
    const last = runs[runs.length - 1];
    if (last && last.level === levels[i]) last.text += line[i];
    else runs.push({ text: line[i], level: levels[i] });
  }
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
