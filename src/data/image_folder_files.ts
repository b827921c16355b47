import { MAX_DATASET_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import type { ImageSplits } from './dataset.js';
import { DatasetError } from './idx.js';
import { imageFolderSplits, type DecodedImage, type LabelledImage } from './image_folder.js';

/** Largest decoded image, in megabytes of RGBA: far above any training image, well below memory. */
const MAX_DECODED_MB = 256;

type Decoder = (bytes: Uint8Array, name: string) => DecodedImage;

/** pngjs or jpeg-js (optional peer dependencies), loaded when the first such image is met. */
async function decoderFor(extension: string): Promise<Decoder> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const png = extension === '.png';
  const pkg = png ? 'pngjs' : 'jpeg-js';
  let lib;
  try {
    lib = require(pkg);
  } catch {
    throw new DatasetError(`reading ${png ? 'PNG' : 'JPEG'} images needs the ${pkg} package: run \`npm install ${pkg}\``);
  }
  return (bytes, name) => {
    try {
      if (png) {
        const image = lib.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        return { name, width: image.width, height: image.height, rgba: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength) };
      }
      const image = lib.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: MAX_DECODED_MB });
      return { name, width: image.width, height: image.height, rgba: image.data };
    } catch (e) {
      throw new DatasetError(`${name}: not a readable ${png ? 'PNG' : 'JPEG'} image (${(e as Error).message})`);
    }
  };
}

const EXTENSIONS = new Map([['.png', '.png'], ['.jpg', '.jpg'], ['.jpeg', '.jpg']]);

/**
 * Node: an image folder, train/<class>/*.png|jpg and test/<class>/*.png|jpg, decoded with pngjs and
 * jpeg-js (pure JavaScript; optional peer dependencies) into 3-channel datasets; see
 * `imageFolderSplits` for the class numbering and the checks. Files of other kinds are skipped.
 */
export async function loadImageFolder(dir: string): Promise<ImageSplits> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const decoders = new Map<string, Decoder>();
  const images: LabelledImage[] = [];
  const folders = async (at: string) => (await fs.readdir(at, { withFileTypes: true }).catch(() => [])).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  for (const split of ['train', 'test'] as const) {
    const classes = await folders(path.join(dir, split));
    for (const className of classes) {
      const files = (await fs.readdir(path.join(dir, split, className))).sort();
      for (const file of files) {
        const extension = EXTENSIONS.get(path.extname(file).toLowerCase());
        if (!extension) continue;
        let decode = decoders.get(extension);
        if (!decode) decoders.set(extension, (decode = await decoderFor(extension)));
        const name = `${split}/${className}/${file}`;
        const bytes = await readFileWithin(path.join(dir, name), { limit: MAX_DATASET_FILE_BYTES, limitName: 'MAX_DATASET_FILE_BYTES', error: DatasetError, label: path.join(dir, name) });
        images.push({ split, className, image: decode(bytes, name) });
      }
    }
  }
  if (!images.some((i) => i.split === 'train')) {
    throw new DatasetError(`${dir}: no class folders with images under train/; lay the images out as train/<class>/*.png|jpg and test/<class>/*.png|jpg`);
  }
  return imageFolderSplits(images, dir);
}
