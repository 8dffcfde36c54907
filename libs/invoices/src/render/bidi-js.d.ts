/** bidi-js (the Unicode bidi algorithm) ships without types: the part the invoice renderer uses. */
declare module 'bidi-js' {
  interface EmbeddingLevels {
    /** One level per UTF-16 code unit of the text: even left to right, odd right to left. */
    levels: Uint8Array;
    paragraphs: { start: number; end: number; level: number }[];
  }
  interface Bidi {
    getEmbeddingLevels(text: string, explicitDirection?: 'ltr' | 'rtl'): EmbeddingLevels;
  }
  export default function bidiFactory(): Bidi;
}
