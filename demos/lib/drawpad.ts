/**
 * A pad to draw a digit on with mouse, pen or finger. `pixels()` turns the drawing into a 28×28
 * MNIST-like image: the ink's bounding box scaled into 20×20 and centred by its centre of mass, as
 * the MNIST digits were prepared.
 */
export class DrawPad {
  private drawing = false;
  private last: [number, number] | undefined;
  private inked = false;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly onChange: () => void,
  ) {
    canvas.width = canvas.height = 280;
    this.clear();
    canvas.addEventListener('pointerdown', (e) => {
      this.drawing = true;
      canvas.setPointerCapture(e.pointerId);
      this.last = this.at(e);
      this.stroke(this.last);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (this.drawing) this.stroke(this.at(e));
    });
    const end = () => {
      this.drawing = false;
      this.last = undefined;
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  get empty(): boolean {
    return !this.inked;
  }

  clear(): void {
    const ctx = this.canvas.getContext('2d')!;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.inked = false;
  }

  private at(e: PointerEvent): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * this.canvas.width, ((e.clientY - r.top) / r.height) * this.canvas.height];
  }

  private stroke(to: [number, number]): void {
    const ctx = this.canvas.getContext('2d')!;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 22;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...(this.last ?? to));
    ctx.lineTo(to[0] + 0.01, to[1]);
    ctx.stroke();
    this.last = to;
    this.inked = true;
    this.onChange();
  }

  /** The drawing as 784 bytes, white ink on black like MNIST. */
  pixels(): Uint8Array {
    const { width, height } = this.canvas;
    const src = this.canvas.getContext('2d')!.getImageData(0, 0, width, height).data;
    let x0 = width;
    let y0 = height;
    let x1 = -1;
    let y1 = -1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (src[(y * width + x) * 4] > 32) {
          x0 = Math.min(x0, x);
          x1 = Math.max(x1, x);
          y0 = Math.min(y0, y);
          y1 = Math.max(y1, y);
        }
      }
    }
    const out = new Uint8Array(784);
    if (x1 < 0) return out;
    const box = Math.max(x1 - x0 + 1, y1 - y0 + 1);
    const small = document.createElement('canvas');
    small.width = small.height = 28;
    const ctx = small.getContext('2d', { willReadFrequently: true })!;
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, 28, 28);
    ctx.imageSmoothingQuality = 'high';
    const w = ((x1 - x0 + 1) / box) * 20;
    const h = ((y1 - y0 + 1) / box) * 20;
    ctx.drawImage(this.canvas, x0, y0, x1 - x0 + 1, y1 - y0 + 1, (28 - w) / 2, (28 - h) / 2, w, h);
    const data = ctx.getImageData(0, 0, 28, 28).data;
    let mass = 0;
    let cx = 0;
    let cy = 0;
    for (let i = 0; i < 784; i++) {
      const v = data[i * 4];
      mass += v;
      cx += v * (i % 28);
      cy += v * Math.floor(i / 28);
    }
    const dx = mass ? Math.round(13.5 - cx / mass) : 0;
    const dy = mass ? Math.round(13.5 - cy / mass) : 0;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const sx = x - dx;
        const sy = y - dy;
        if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = data[(sy * 28 + sx) * 4];
      }
    }
    return out;
  }
}
