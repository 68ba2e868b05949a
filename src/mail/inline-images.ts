/**
 * `cid:` references in the HTML body replaced by `data:` URIs of the images they name, as
 * node-red-node-email's msg.html has them (mailparser's simpleParser does it there), so a flow that
 * shows or saves msg.html keeps its images.
 */
import { NODE_OPTIONS, type ValueOf } from '../config/options';

/** How inline images appear in msg.html: as `data:` URIs (node-red-node-email) or as the `cid:` links of the mail. */
export type InlineImagesMode = ValueOf<'m365-imap-in', 'inlineImages'>;
export const INLINE_IMAGES_MODES: readonly InlineImagesMode[] = NODE_OPTIONS['m365-imap-in'].inlineImages.values;
export const DEFAULT_INLINE_IMAGES: InlineImagesMode = NODE_OPTIONS['m365-imap-in'].inlineImages.default;

/** The most characters of `data:` URIs written into one HTML body (mailparser's own bound). */
export const MAX_INLINED_CHARS = 20 * 1024 * 1024;

export interface InlineImage {
  contentType: string;
  content: Buffer;
}

// The pattern and the image test mailparser's updateImageLinks uses, so the same links are replaced.
const CID_LINK = /\bcid:([^'"\s]{1,256})/g;
const IMAGE_TYPE = /^image\/[\w]+$/i;

/** Whether an attachment can stand in for a `cid:` link: it has a Content-ID and is an image. */
export function isInlineImageCandidate(cid: string | undefined, contentType: string | undefined): cid is string {
  return typeof cid === 'string' && cid !== '' && IMAGE_TYPE.test(contentType ?? '');
}

/**
 * Replaces each `cid:` link whose image is known by its `data:` URI. Links to unknown images, and
 * links past {@link MAX_INLINED_CHARS} of URIs in all (one image referenced thousands of times),
 * stay as they are. Each image is encoded once.
 */
export function inlineCidImages(html: string, images: ReadonlyMap<string, InlineImage>, maxChars = MAX_INLINED_CHARS): string {
  if (images.size === 0 || !html.includes('cid:')) return html;
  const uris = new Map<string, string>();
  let written = 0;
  return html.replace(CID_LINK, (link, cid: string) => {
    const image = images.get(cid);
    if (!image) return link;
    let uri = uris.get(cid);
    if (uri === undefined) {
      uri = `data:${image.contentType};base64,${image.content.toString('base64')}`;
      uris.set(cid, uri);
    }
    if (written + uri.length > maxChars) return link;
    written += uri.length;
    return uri;
  });
}
