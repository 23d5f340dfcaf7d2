import fs from 'node:fs';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';

/**
 * The share of pixels a fresh picture of the same page may differ by and still count as the same picture:
 * what a run's own data changes (endpoint ids, times, durations, the chart's time axis). Measured between
 * runs at under 1 %; a change to the page itself (a section, a column, a style) moves far more, or the size.
 */
const SAME_PAGE_SHARE = 0.02;

export interface PictureKept { file: string; differingShare: number | null; written: boolean }

/**
 * Keeps `png` as `file` when it shows something the picture there does not: a new size, or more than
 * SAME_PAGE_SHARE of its pixels changed (pixelmatch's perceptual per-pixel comparison, anti-aliasing ignored).
 * So the pictures follow every visible change of the pages, and a run that changes none leaves the tree clean.
 */
export function keepPicture(file: string, png: Buffer): PictureKept {
  const fresh = PNG.sync.read(png);
  const kept = fs.existsSync(file) ? PNG.sync.read(fs.readFileSync(file)) : undefined;
  const comparable = kept && kept.width === fresh.width && kept.height === fresh.height;
  const differingShare = comparable ? pixelmatch(kept.data, fresh.data, undefined, fresh.width, fresh.height, { threshold: 0.1 }) / (fresh.width * fresh.height) : null;
  const written = differingShare === null || differingShare > SAME_PAGE_SHARE;
  if (written) fs.writeFileSync(file, png);
  return { file, differingShare, written };
}
