//! Reference images: each scene is rendered and compared with `tests/results/<name>.png`.

use orrery_render::{Scene, SceneInput, Theme};

use orrery_render::RenderOptions;

use crate::harness::{check_image, decode_png, renderer, renderer_with};
use crate::scenes;

const WIDTH: u32 = 480;
const HEIGHT: u32 = 320;

#[track_caller]
fn check(name: &str, input: &SceneInput, theme: &Theme) {
    let scene = Scene::build(input, theme).expect("scene");
    let rgba = renderer(WIDTH, HEIGHT).render_rgba(&scene).expect("render");
    check_image(name, &rgba, WIDTH, HEIGHT);
}

#[test]
fn a_nested_workflow_in_the_dark_theme() {
    check("workflow_dark", &scenes::workflow(), &Theme::dark());
}

#[test]
fn a_nested_workflow_in_the_light_theme() {
    check("workflow_light", &scenes::workflow(), &Theme::light());
}

#[test]
fn a_plain_graph_is_coloured_by_degree() {
    check("plain_graph", &scenes::plain(600, 11), &Theme::dark());
}

#[test]
fn an_empty_scene_is_just_the_background() {
    check("empty", &SceneInput::default(), &Theme::dark());
}

#[test]
fn a_nested_workflow_multisampled() {
    let options = RenderOptions {
        samples: Some(4),
        ..RenderOptions::default()
    };
    let scene = Scene::build(&scenes::workflow(), &Theme::dark()).expect("scene");
    let rgba = renderer_with(WIDTH, HEIGHT, options)
        .render_rgba(&scene)
        .expect("render");
    check_image("workflow_dark_msaa", &rgba, WIDTH, HEIGHT);
}

#[test]
fn rendering_twice_gives_the_same_pixels() {
    let scene = Scene::build(&scenes::plain(300, 5), &Theme::dark()).unwrap();
    let renderer = renderer(WIDTH, HEIGHT);
    assert_eq!(
        renderer.render_rgba(&scene).unwrap(),
        renderer.render_rgba(&scene).unwrap()
    );
}

#[test]
fn the_png_decodes_to_the_rendered_pixels() {
    let scene = Scene::build(&scenes::workflow(), &Theme::dark()).unwrap();
    let renderer = renderer(WIDTH, HEIGHT);
    let (pixels, width, height) = decode_png(&renderer.render_png(&scene).unwrap());
    assert_eq!((width, height), (WIDTH, HEIGHT));
    assert_eq!(pixels, renderer.render_rgba(&scene).unwrap());
}

#[test]
fn the_picture_is_opaque_and_not_blank() {
    let scene = Scene::build(&scenes::workflow(), &Theme::dark()).unwrap();
    let rgba = renderer(WIDTH, HEIGHT).render_rgba(&scene).unwrap();
    assert!(rgba.chunks_exact(4).all(|p| p[3] == 255));
    let distinct: std::collections::HashSet<&[u8]> = rgba.chunks_exact(4).collect();
    assert!(distinct.len() > 500, "only {} colours", distinct.len());
}

#[test]
fn a_frame_does_not_keep_anything_of_the_frame_before() {
    // Frames reuse their buffers and the drawn background: a larger scene in another theme in
    // between must leave no trace.
    let renderer = renderer(WIDTH, HEIGHT);
    let small = Scene::build(&scenes::workflow(), &Theme::light()).unwrap();
    let large = Scene::build(&scenes::plain(600, 11), &Theme::dark()).unwrap();
    let first = renderer.render_rgba(&small).unwrap();
    let other = renderer.render_rgba(&large).unwrap();
    assert_ne!(first, other);
    assert_eq!(renderer.render_rgba(&small).unwrap(), first);
}
