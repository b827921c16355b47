export interface Series {
  name: string;
  color: string;
  /** Drawn as dots (sparse points such as test evaluations) instead of a line. */
  dots?: boolean;
}

/**
 * A small live line chart on a canvas: a few series of (x, y) points, axes rescaled to the data on
 * every draw. Drawing is throttled to animation frames, so adding points each step stays cheap.
 */
export class LineChart {
  private readonly points: [number, number][][];
  private pending = false;

  constructor(
    readonly canvas: HTMLCanvasElement,
    readonly series: Series[],
    readonly options: { yMin?: number; yMax?: number; title: string; logY?: boolean } = { title: '' },
  ) {
    this.points = series.map(() => []);
    this.draw();
  }

  add(series: number, x: number, y: number): void {
    if (!Number.isFinite(y)) return;
    this.points[series].push([x, y]);
    this.schedule();
  }

  clear(): void {
    for (const p of this.points) p.length = 0;
    this.schedule();
  }

  private schedule(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw(): void {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth || 360;
    const h = c.clientHeight || 200;
    if (c.width !== Math.round(w * ratio)) c.width = Math.round(w * ratio);
    if (c.height !== Math.round(h * ratio)) c.height = Math.round(h * ratio);
    const ctx = c.getContext('2d')!;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const style = getComputedStyle(c);
    const ink = style.getPropertyValue('--muted').trim() || '#666';
    const line = style.getPropertyValue('--line').trim() || '#ddd';
    const left = 44;
    const right = 8;
    const top = 22;
    const bottom = 20;
    const all = this.points.flat();
    let x0 = 0;
    let x1 = 1;
    let y0 = this.options.yMin ?? Infinity;
    let y1 = this.options.yMax ?? -Infinity;
    for (const [x, y] of all) {
      x1 = Math.max(x1, x);
      if (this.options.yMin === undefined) y0 = Math.min(y0, y);
      if (this.options.yMax === undefined) y1 = Math.max(y1, y);
    }
    if (!Number.isFinite(y0)) y0 = 0;
    if (!Number.isFinite(y1) || y1 <= y0) y1 = y0 + 1;
    const X = (x: number) => left + ((x - x0) / (x1 - x0)) * (w - left - right);
    const Y = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom);
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = line;
    ctx.fillStyle = ink;
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = y0 + ((y1 - y0) * i) / 4;
      const y = Y(v);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(w - right, y);
      ctx.stroke();
      ctx.fillText(v.toPrecision(2), 4, y + 4);
    }
    ctx.fillText(`step ${Math.round(x1)}`, w - right - 60, h - 5);
    ctx.font = '600 12px system-ui, sans-serif';
    ctx.fillText(this.options.title, left, 14);
    let legendX = left + ctx.measureText(this.options.title).width + 14;
    ctx.font = '11px system-ui, sans-serif';
    this.series.forEach((s, i) => {
      ctx.fillStyle = s.color;
      ctx.fillRect(legendX, 6, 10, 10);
      ctx.fillStyle = ink;
      ctx.fillText(s.name, legendX + 14, 15);
      legendX += ctx.measureText(s.name).width + 28;
      const pts = this.points[i];
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 1.5;
      if (s.dots) {
        for (const [x, y] of pts) {
          ctx.beginPath();
          ctx.arc(X(x), Y(y), 3, 0, 2 * Math.PI);
          ctx.fill();
        }
        if (pts.length > 1) {
          ctx.beginPath();
          pts.forEach(([x, y], k) => (k ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
          ctx.stroke();
        }
      } else if (pts.length) {
        ctx.beginPath();
        pts.forEach(([x, y], k) => (k ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
        ctx.stroke();
      }
    });
  }
}
