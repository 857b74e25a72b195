//! Camera fit: every node is inside the frame, and the scene fills a fair part of it.

use orrery_render::{Camera, Scene, SceneInput, Theme};

use crate::scenes;

#[track_caller]
fn check_fit(input: &SceneInput, width: u32, height: u32) {
    let scene = Scene::build(input, &Theme::dark()).unwrap();
    let camera = Camera::fit(&scene, width, height);
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for (index, node) in scene.nodes().iter().enumerate() {
        let [x, y] = camera
            .project(node.position)
            .expect("node in front of the camera");
        let r = camera.pixel_radius(node.position, node.radius);
        assert!(
            x - r >= 0.0 && y - r >= 0.0 && x + r <= width as f32 && y + r <= height as f32,
            "node {index} at ({x}, {y}) radius {r} is outside the {width}x{height} frame"
        );
        lo = [lo[0].min(x - r), lo[1].min(y - r)];
        hi = [hi[0].max(x + r), hi[1].max(y + r)];
    }
    let fill = ((hi[0] - lo[0]) / width as f32).max((hi[1] - lo[1]) / height as f32);
    assert!(
        fill > 0.6,
        "the scene fills only {:.0}% of the frame",
        fill * 100.0
    );
}

#[test]
fn a_workflow_fits_a_wide_frame() {
    check_fit(&scenes::workflow(), 1280, 720);
}

#[test]
fn a_workflow_fits_a_tall_frame() {
    check_fit(&scenes::workflow(), 300, 900);
}

#[test]
fn a_large_graph_fits() {
    check_fit(&scenes::plain(5000, 2), 800, 600);
}

#[test]
fn a_long_thin_layout_fits() {
    check_fit(&scenes::scattered(200, [100.0, 2.0, 1.0], 9), 640, 480);
}

#[test]
fn a_flat_layout_fits() {
    check_fit(&scenes::scattered(200, [10.0, 10.0, 0.0], 4), 640, 480);
}

#[test]
fn a_single_node_fits() {
    check_fit(&scenes::row(1, 1.0), 640, 480);
}

#[test]
fn nodes_all_at_one_place_fit() {
    let input = SceneInput::from_edges(vec![[3.0, 3.0, 3.0]; 4], vec![[0, 1]]);
    check_fit(&input, 640, 480);
}
