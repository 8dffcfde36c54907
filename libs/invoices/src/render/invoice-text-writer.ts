import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanText, hasRightToLeft, isWinAnsi, visualRuns } from './unicode-text';

type Doc = PDFKit.PDFDocument;
type TextOptions = PDFKit.Mixins.TextOptions;

export type Face = 'regular' | 'bold';

/** The PDF standard fonts: nothing embedded, so WinAnsi-only invoices stay small and unchanged. */
const STANDARD: Record<Face, string> = { regular: 'Helvetica', bold: 'Helvetica-Bold' };
/** DejaVu Sans (fonts/LICENSE): Latin, Greek, Cyrillic, Hebrew, Arabic and more; not CJK. */
const EMBEDDED: Record<Face, string> = { regular: 'DejaVuSans', bold: 'DejaVuSans-Bold' };
const EMBEDDED_FILES: Record<Face, string> = { regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' };
/** Helvetica's ascender (regular and bold), in thousandths of the font size. */
const HELVETICA_ASCENDER = 718;
/** Printed for a character the embedded font has no glyph for (CJK, emoji, ...). */
const REPLACEMENT = '\ufffd';

let fontFiles: Record<Face, Buffer> | undefined;

/** Read once per process, on the first invoice that needs them (copied to dist by copy-assets). */
function embeddedFontFiles(): Record<Face, Buffer> {
  fontFiles ??= {
    regular: readFileSync(join(__dirname, 'fonts', EMBEDDED_FILES.regular)),
    bold: readFileSync(join(__dirname, 'fonts', EMBEDDED_FILES.bold)),
  };
  return fontFiles;
}

interface GlyphCoverage {
  hasGlyphForCodePoint(codePoint: number): boolean;
}

/**
 * Draws text in the invoice's fonts. A string the standard fonts can print (WinAnsi) is drawn in
 * Helvetica, exactly as before embedded fonts existed, so such invoices keep their bytes. Any
 * other string is drawn in DejaVu Sans, embedded as a subset (pdfkit names the subset after the
 * font's id in the document, F1, F2..., and adds glyphs in drawing order, so the same invoice
 * still gives the same bytes), on Helvetica's baseline so that mixed rows line up. Characters
 * DejaVu Sans lacks print as U+FFFD; right-to-left text is put in visual order (unicode-text.ts).
 */
export class InvoiceTextWriter {
  private face: Face = 'regular';
  private size = 12;
  private registered = false;

  constructor(private readonly doc: Doc) {}

  font(face: Face, size: number): this {
    this.face = face;
    this.size = size;
    this.doc.font(STANDARD[face]).fontSize(size);
    return this;
  }

  color(color: string): this {
    this.doc.fillColor(color);
    return this;
  }

  get y(): number {
    return this.doc.y;
  }

  text(value: string, x: number, y: number, options: TextOptions = {}): this {
    const text = this.select(value);
    if (text === null) {
      this.doc.text(cleanText(value), x, y, options);
    } else if (!hasRightToLeft(text)) {
      this.doc.text(text, x, y, { ...options, baseline: this.baseline() });
    } else {
      this.rightToLeft(text, x, y, options);
    }
    this.doc.font(STANDARD[this.face]);
    return this;
  }

  widthOf(value: string, options: TextOptions = {}): number {
    const text = this.select(value);
    const width =
      text === null || !hasRightToLeft(text)
        ? this.doc.widthOfString(text ?? cleanText(value), options)
        : this.runWidth(text, options);
    this.doc.font(STANDARD[this.face]);
    return width;
  }

  heightOf(value: string, options: TextOptions = {}): number {
    const text = this.select(value);
    const height =
      text === null || !hasRightToLeft(text)
        ? this.doc.heightOfString(text ?? cleanText(value), options)
        : this.wrap(text, options).length * (this.doc.currentLineHeight(true) + (options.lineGap ?? 0));
    this.doc.font(STANDARD[this.face]);
    return height;
  }

  /**
   * Selects the font for `value`: null when Helvetica prints it, else the text to draw in the
   * embedded font (selected), with characters it has no glyph for replaced.
   */
  private select(value: string): string | null {
    const text = cleanText(value);
    if (isWinAnsi(text)) {
      this.doc.font(STANDARD[this.face]);
      return null;
    }
    if (!this.registered) {
      const files = embeddedFontFiles();
      this.doc.registerFont(EMBEDDED.regular, files.regular).registerFont(EMBEDDED.bold, files.bold);
      this.registered = true;
    }
    this.doc.font(EMBEDDED[this.face]);
    // pdfkit keeps the fontkit font of an embedded font here; it has no public accessor.
    const glyphs = (this.doc as unknown as { _font: { font: GlyphCoverage } })._font.font;
    let covered = '';
    for (const char of text) {
      const code = char.codePointAt(0)!;
      covered += char === ' ' || glyphs.hasGlyphForCodePoint(code) ? char : REPLACEMENT;
    }
    return covered;
  }

  /** The numeric baseline that puts the embedded font's baseline where Helvetica's would be. */
  private baseline(): number {
    return -(HELVETICA_ASCENDER / 1000) * this.size;
  }

  /**
   * pdfkit lays text out word by word and never reorders it, so right-to-left text is wrapped here
   * in logical order, each line is split into directional runs in visual order, and each run is
   * drawn whole (`features` makes pdfkit shape the run at once; fontkit then reverses a Hebrew or
   * Arabic run and joins Arabic letters).
   */
  private rightToLeft(text: string, x: number, y: number, options: TextOptions): void {
    const lineHeight = this.doc.currentLineHeight(true) + (options.lineGap ?? 0);
    let lineY = y;
    for (const line of this.wrap(text, options)) {
      const runs = visualRuns(line).map((run) => ({
        // A run of neutral characters only (no Hebrew or Arabic letter) is not reversed by fontkit.
        text: run.rtl && !hasRightToLeft(run.text) ? Array.from(run.text).reverse().join('') : run.text,
      }));
      const widths = runs.map((run) => this.doc.widthOfString(run.text, { features: [] }));
      const total = widths.reduce((sum, width) => sum + width, 0);
      const room = options.width ?? total;
      let runX =
        options.align === 'right'
          ? x + room - total
          : options.align === 'center'
            ? x + (room - total) / 2
            : x;
      runs.forEach((run, index) => {
        this.doc.text(run.text, runX, lineY, { lineBreak: false, features: [], baseline: this.baseline() });
        runX += widths[index];
      });
      lineY += lineHeight;
    }
    this.doc.x = x;
    this.doc.y = lineY;
  }

  private runWidth(line: string, options: TextOptions): number {
    return visualRuns(line).reduce(
      (sum, run) => sum + this.doc.widthOfString(run.text, { ...options, features: [] }),
      0,
    );
  }

  /**
   * Greedy word wrap in logical order, at line breaks and spaces; a word wider than the line is
   * not broken.
   */
  private wrap(text: string, options: TextOptions): string[] {
    if (options.lineBreak === false || options.width === undefined) return [text.replace(/\n/g, ' ')];
    const lines: string[] = [];
    for (const paragraph of text.split('\n')) {
      let line = '';
      for (const word of paragraph.split(' ')) {
        const candidate = line ? `${line} ${word}` : word;
        if (line && this.runWidth(candidate, options) > options.width) {
          lines.push(line);
          line = word;
        } else {
          line = candidate;
        }
      }
      lines.push(line);
    }
    // A trailing space would show at the start (left) of a right-to-left line.
    return lines.map((line) => line.trimEnd());
  }
}
