//! Bad input gives a clear error, never a panic or a blank image.

use expect_test::{Expect, expect};
use orrery_render::{NodeGeometry, RenderOptions, Renderer, Scene, SceneInput, SceneNode, Theme};

#[track_caller]
fn check_scene(input: SceneInput, expect: Expect) {
    let error = Scene::build(&input, &Theme::dark()).unwrap_err();
    expect.assert_eq(&error.to_string());
}

#[track_caller]
fn check_size(width: u32, height: u32, expect: Expect) {
    let error = Renderer::headless(width, height).unwrap_err();
    expect.assert_eq(&error.to_string());
}

#[test]
fn a_zero_width_is_an_error() {
    check_size(
        0,
        100,
        expect!["an image of 0x100 pixels cannot be rendered: each side must be 1 to 8192"],
    );
}

#[test]
fn a_zero_height_is_an_error() {
    check_size(
        100,
        0,
        expect!["an image of 100x0 pixels cannot be rendered: each side must be 1 to 8192"],
    );
}

#[test]
fn a_huge_image_is_an_error() {
    check_size(
        100_000,
        100_000,
        expect!["an image of 100000x100000 pixels cannot be rendered: each side must be 1 to 8192"],
    );
}

#[test]
fn an_unsupported_sample_count_is_an_error() {
    let options = RenderOptions {
        samples: Some(3),
        geometry: NodeGeometry::Impostor,
    };
    let error = Renderer::headless_with(64, 64, options).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("3 samples per pixel are not supported"),
        "{error}"
    );
}

#[test]
fn fewer_positions_than_nodes_is_an_error() {
    let input = SceneInput {
        positions: vec![[0.0; 3]; 2],
        nodes: vec![SceneNode::default(); 3],
        edges: vec![],
    };
    check_scene(input, expect!["the scene has 2 positions for 3 nodes"]);
}

#[test]
fn a_nan_position_is_an_error() {
    let positions = vec![[0.0; 3], [1.0, f32::NAN, 0.0]];
    check_scene(
        SceneInput::from_edges(positions, vec![]),
        expect!["the position of node 1 is not finite"],
    );
}

#[test]
fn an_infinite_position_is_an_error() {
    let positions = vec![[f32::INFINITY, 0.0, 0.0]];
    check_scene(
        SceneInput::from_edges(positions, vec![]),
        expect!["the position of node 0 is not finite"],
    );
}

#[test]
fn an_edge_to_a_missing_node_is_an_error() {
    let positions = vec![[0.0; 3], [1.0, 0.0, 0.0]];
    check_scene(
        SceneInput::from_edges(positions, vec![[0, 1], [1, 7]]),
        expect!["edge 1 refers to node 7, but the scene has 2 nodes"],
    );
}

#[test]
fn a_huge_position_is_an_error() {
    let positions = vec![[0.0; 3], [0.0, 0.0, -3e20]];
    check_scene(
        SceneInput::from_edges(positions, vec![]),
        expect!["the position of node 1 is too far out: coordinates must lie within ±1e18"],
    );
}

#[test]
fn the_renderer_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Renderer>();
    shareable::<Scene>();
}
