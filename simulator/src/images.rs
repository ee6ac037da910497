//! The 券面 AP images (spec §6.3): 1-bit greyscale PNGs of the printed text, and the
//! bundled synthetic JPEG 2000 photo.
//!
//! The real card stores the name, address, My Number and security code as rendered by
//! the issuing system. No font is bundled: digits are drawn with a built-in 5×7 font and
//! every other character as a deterministic 7×7 pattern derived from its code point, so
//! the images are valid PNGs of plausible size that differ per holder.

/// The bundled synthetic photo (a generated face-like gradient, JPEG 2000 JP2 container).
pub const SYNTHETIC_PHOTO_JP2: &[u8] = include_bytes!("../assets/photo.jp2");

/// True if `data` starts with the JP2 signature box (`00 00 00 0C 6A 50 20 20`).
pub fn is_jp2(data: &[u8]) -> bool {
    data.starts_with(&[0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20])
}

/// 5×7 digits, one byte per row, bit 4 = leftmost pixel.
const DIGITS: [[u8; 7]; 10] = [
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
];

/// Renders `text` on one line, `cell` pixels per character (at least 8), as a 1-bit PNG
/// with black (0) ink on white (1).
pub fn render_text_png(text: &str, cell: u32) -> Vec<u8> {
    let cell = cell.max(8);
    let chars: Vec<char> = text.chars().collect();
    let width = (chars.len().max(1) as u32) * cell;
    let height = cell;
    let stride = width.div_ceil(8) as usize;
    let mut pixels = vec![0xFFu8; stride * height as usize];
    let scale = cell / 8;
    for (i, ch) in chars.iter().enumerate() {
        let glyph = glyph(*ch);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..7u32 {
                if bits & (0x40 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = i as u32 * cell + (col + 1) * scale + dx;
                        let y = row as u32 * scale + dy;
                        if x < width && y < height {
                            pixels[y as usize * stride + (x / 8) as usize] &= !(0x80 >> (x % 8));
                        }
                    }
                }
            }
        }
    }
    encode_png(width, height, &pixels)
}

/// Width of one digit of [`render_digits_png`], in pixels.
pub const DIGIT_CELL_WIDTH: u32 = 6;
/// Height of [`render_digits_png`]'s images, in pixels.
pub const DIGIT_IMAGE_HEIGHT: u32 = 12;

/// Renders a row of digits the size the surveyed card's digit images have: 6×12 pixels a
/// digit, so the 4-digit security code (surface EF 0002 DF2A) is 24×12 and the 12-digit My
/// Number (EF 0005 DF41) 72×12 (spec §6.3, §13.5; myna-card `src/ap/surface.rs` and the PNG
/// headers of its fixtures `surface-0002.bin`, `surface-0005.bin`: 1-bit greyscale, 24×12 and
/// 72×12). Each digit is the 5×7 font with a blank column after it, rows 2–8; \[inf\] any
/// other character (profiles only allow digits here) is a blank cell.
pub fn render_digits_png(digits: &str) -> Vec<u8> {
    let count = digits.chars().count().max(1) as u32;
    let width = count * DIGIT_CELL_WIDTH;
    let stride = width.div_ceil(8) as usize;
    let mut pixels = vec![0xFFu8; stride * DIGIT_IMAGE_HEIGHT as usize];
    let top = (DIGIT_IMAGE_HEIGHT - 7) / 2;
    for (i, ch) in digits.chars().enumerate() {
        let Some(glyph) = ch.to_digit(10).and_then(|d| DIGITS.get(d as usize)) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) != 0 {
                    let x = i as u32 * DIGIT_CELL_WIDTH + col;
                    let y = top + row as u32;
                    pixels[y as usize * stride + (x / 8) as usize] &= !(0x80 >> (x % 8));
                }
            }
        }
    }
    encode_png(width, DIGIT_IMAGE_HEIGHT, &pixels)
}

/// A 7×7 glyph, bit 6 = leftmost pixel.
fn glyph(ch: char) -> [u8; 7] {
    if let Some(d) = ch.to_digit(10) {
        return DIGITS[d as usize].map(|row| row << 1);
    }
    if ch.is_whitespace() || ch == '\u{3000}' {
        return [0; 7];
    }
    // A frame with a pattern from the code point, so different characters look different.
    let mut state = u32::from(ch).wrapping_mul(2_654_435_761);
    let mut out = [0x7Fu8, 0, 0, 0, 0, 0, 0x7F];
    for row in out.iter_mut().take(6).skip(1) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        *row = 0x41 | ((state as u8) & 0x3E);
    }
    out
}

fn encode_png(width: u32, height: u32, packed_rows: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let written = encoder.write_header().and_then(|mut writer| writer.write_image_data(packed_rows));
    debug_assert!(written.is_ok(), "PNG encoding of an in-memory image cannot fail: {written:?}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_decodes_with_expected_size() {
        let data = render_text_png("1234", 12);
        assert!(data.starts_with(&[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]));
        let decoder = png::Decoder::new(std::io::Cursor::new(&data));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (48, 12));
        assert_eq!(info.bit_depth, png::BitDepth::One);
    }

    #[test]
    fn digit_images_are_six_by_twelve_a_digit() {
        for (digits, width) in [("2285", 24), ("537686677188", 72), ("", 6)] {
            let data = render_digits_png(digits);
            let reader = png::Decoder::new(std::io::Cursor::new(&data)).read_info().unwrap();
            let info = reader.info();
            assert_eq!((info.width, info.height, info.bit_depth), (width, 12, png::BitDepth::One), "{digits:?}");
        }
        assert_ne!(render_digits_png("1111"), render_digits_png("7777"));
    }

    #[test]
    fn bundled_photo_is_jp2() {
        assert!(is_jp2(SYNTHETIC_PHOTO_JP2));
    }
}
