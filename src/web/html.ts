import { h } from 'preact';
import htm from 'htm';

/** JSX-like templates without a compile step: html`<div class=${c}>…</div>`. */
export const html = htm.bind(h);

export const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
export const fmtPct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)} %`);
export const fmtUsd = (v: number): string => `$${v.toFixed(v < 1 ? 4 : 2)}`;
export const fmtTime = (iso: string | number): string => new Date(iso).toLocaleTimeString();
