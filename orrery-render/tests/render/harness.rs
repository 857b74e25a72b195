//! Shared renderers and the reference-image check.
//!
//! `check_image` compares a render with `tests/results/<name>.png`: a pixel differs when a channel
//! is off by more than [`PIXEL_THRESHOLD`], and the check fails when more than [`ALLOWED_SHARE`] of
//! the pixels differ. On failure it writes `<name>-actual.png` and `<name>-diff.png` beside the
//! reference; `UPDATE_EXPECT=1` rewrites the reference instead. Every render is also saved to
//! `target/render-samples/` for people to look at.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use orrery_render::{RenderOptions, Renderer};

/// Largest difference of one channel (0 to 255) that still counts as the same pixel. Software
/// rasterisers agree to the bit; other drivers differ in rounding and in antialiased edges.
pub const PIXEL_THRESHOLD: u8 = 40;
/// Share of pixels that may differ.
pub const ALLOWED_SHARE: f64 = 0.01;

/// A renderer for `width` x `height` images with one sample per pixel (the same on every
/// adapter, so that reference images hold on GPUs too), opened once per size and shared by the
/// tests. A missing adapter fails the test: no picture is not a passing picture.
pub fn renderer(width: u32, height: u32) -> &'static Renderer {
    renderer_with(
        width,
        height,
        RenderOptions {
            samples: Some(1),
            ..RenderOptions::default()
        },
    )
}

/// Like [`renderer`], with `options`.
pub fn renderer_with(width: u32, height: u32, options: RenderOptions) -> &'static Renderer {
    type Renderers = HashMap<(u32, u32, String), &'static Renderer>;
    static RENDERERS: OnceLock<Mutex<Renderers>> = OnceLock::new();
    let key = (width, height, format!("{options:?}"));
    let mut renderers = RENDERERS.get_or_init(Default::default).lock().unwrap();
    renderers.entry(key).or_insert_with(|| {
        let renderer = Renderer::headless_with(width, height, options)
            .unwrap_or_else(|e| panic!("no renderer: {e}"));
        eprintln!("rendering on {}", renderer.adapter());
        Box::leak(Box::new(renderer))
    })
}

/// Compares `rgba` (`width` x `height`) with the reference image `name`.
#[track_caller]
pub fn check_image(name: &str, rgba: &[u8], width: u32, height: u32) {
    save(
        &samples_dir().join(format!("{name}.png")),
        rgba,
        width,
        height,
    );
    let reference = results_dir().join(format!("{name}.png"));
    let actual_path = results_dir().join(format!("{name}-actual.png"));
    let diff_path = results_dir().join(format!("{name}-diff.png"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        save(&reference, rgba, width, height);
        let _ = std::fs::remove_file(&actual_path);
        let _ = std::fs::remove_file(&diff_path);
        return;
    }
    let Some((expected, ew, eh)) = load(&reference) else {
        save(&actual_path, rgba, width, height);
        panic!(
            "no reference image {}: look at {} and run with UPDATE_EXPECT=1 to accept it",
            reference.display(),
            actual_path.display()
        );
    };
    assert_eq!((ew, eh), (width, height), "{name}: image size changed");
    let mut differing = 0usize;
    let mut diff = Vec::with_capacity(rgba.len());
    for (a, e) in rgba.chunks_exact(4).zip(expected.chunks_exact(4)) {
        let off = (0..3).map(|c| a[c].abs_diff(e[c])).max().unwrap_or(0);
        if off > PIXEL_THRESHOLD {
            differing += 1;
            diff.extend([255, 0, 64, 255]);
        } else {
            let grey = ((u16::from(e[0]) + u16::from(e[1]) + u16::from(e[2])) / 9) as u8;
            diff.extend([grey, grey, grey, 255]);
        }
    }
    let share = differing as f64 / (width as f64 * height as f64);
    if share > ALLOWED_SHARE {
        save(&actual_path, rgba, width, height);
        save(&diff_path, &diff, width, height);
        panic!(
            "{name}: {:.2}% of pixels differ from {} (at most {:.2}% may); see {} and {}, \
             or run with UPDATE_EXPECT=1 to accept the new image",
            share * 100.0,
            reference.display(),
            ALLOWED_SHARE * 100.0,
            actual_path.display(),
            diff_path.display()
        );
    }
    let _ = std::fs::remove_file(&actual_path);
    let _ = std::fs::remove_file(&diff_path);
}

/// Decodes a PNG into RGBA pixels and its size.
pub fn decode_png(bytes: &[u8]) -> (Vec<u8>, u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("png header");
    let mut buffer = vec![0; reader.output_buffer_size().expect("png size")];
    let info = reader.next_frame(&mut buffer).expect("png data");
    buffer.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buffer,
        png::ColorType::Rgb => buffer
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected png colour type {other:?}"),
    };
    (rgba, info.width, info.height)
}

/// Where sample renders go for people to look at: `target/render-samples/`.
pub fn samples_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let dir = target.join("render-samples");
    std::fs::create_dir_all(&dir).expect("create render-samples");
    dir
}

fn results_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/results")
}

fn load(path: &Path) -> Option<(Vec<u8>, u32, u32)> {
    let bytes = std::fs::read(path).ok()?;
    Some(decode_png(&bytes))
}

fn save(path: &Path, rgba: &[u8], width: u32, height: u32) {
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let png = orrery_render::gpu::encode_png(&rgb, width, height).expect("encode png");
    std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
