//! Picking: the node under a pixel, checked against the camera's projection and against a ray
//! cast on the CPU.

use orrery_render::{RenderError, Scene, Theme};

use crate::harness::renderer;
use crate::scenes;

const WIDTH: u32 = 400;
const HEIGHT: u32 = 300;

#[test]
fn picking_a_nodes_projected_centre_gives_that_node() {
    let scene = Scene::build(&scenes::row(5, 4.0), &Theme::dark()).unwrap();
    let renderer = renderer(WIDTH, HEIGHT);
    let camera = renderer.camera(&scene);
    for (index, node) in scene.nodes().iter().enumerate() {
        let [x, y] = camera.project(node.position).unwrap();
        let picked = renderer.pick(&scene, x as u32, y as u32).unwrap();
        assert_eq!(picked, Some(index as u32), "node {index} at ({x}, {y})");
    }
}

#[test]
fn picking_the_background_gives_none() {
    let scene = Scene::build(&scenes::row(5, 4.0), &Theme::dark()).unwrap();
    let renderer = renderer(WIDTH, HEIGHT);
    assert_eq!(renderer.pick(&scene, 0, 0).unwrap(), None);
    assert_eq!(renderer.pick(&scene, WIDTH - 1, HEIGHT - 1).unwrap(), None);
}

#[test]
fn picking_finds_the_nearest_node_where_nodes_overlap() {
    // A dense cloud: most pixels see several spheres, and the nearest must win, which only holds
    // when the impostors write their true depth.
    let big = Theme {
        node_size: 1.2,
        ..Theme::dark()
    };
    let scene = Scene::build(&scenes::scattered(400, [10.0, 6.0, 8.0], 3), &big).unwrap();
    let renderer = renderer(WIDTH, HEIGHT);
    let camera = renderer.camera(&scene);
    let (mut agree, mut total, mut hits) = (0, 0, 0);
    for y in (5..HEIGHT).step_by(23) {
        for x in (5..WIDTH).step_by(19) {
            let (eye, dir) = camera.ray(x as f32 + 0.5, y as f32 + 0.5);
            let expected = nearest_hit(&scene, eye, dir);
            let picked = renderer.pick(&scene, x, y).unwrap();
            total += 1;
            hits += usize::from(expected.is_some());
            agree += usize::from(picked == expected);
        }
    }
    assert!(
        hits > total / 4,
        "the scene should fill the frame: {hits} of {total}"
    );
    // Pixels right on a silhouette may go either way.
    assert!(
        agree * 100 >= total * 97,
        "{agree} of {total} pixels agree with the CPU ray cast"
    );
}

#[test]
fn picking_outside_the_image_is_an_error() {
    let scene = Scene::build(&scenes::row(2, 4.0), &Theme::dark()).unwrap();
    let error = renderer(WIDTH, HEIGHT).pick(&scene, WIDTH, 0).unwrap_err();
    assert!(
        matches!(error, RenderError::PixelOutOfRange { .. }),
        "{error}"
    );
}

fn nearest_hit(scene: &Scene, eye: [f32; 3], dir: [f32; 3]) -> Option<u32> {
    let mut best: Option<(f32, u32)> = None;
    for (index, node) in scene.nodes().iter().enumerate() {
        let c: [f32; 3] = std::array::from_fn(|i| node.position[i] - eye[i]);
        let b = c[0] * dir[0] + c[1] * dir[1] + c[2] * dir[2];
        let miss2 = c.iter().map(|v| v * v).sum::<f32>() - b * b;
        let h = node.radius * node.radius - miss2;
        if h < 0.0 {
            continue;
        }
        let t = b - h.sqrt();
        if t > 0.0 && best.is_none_or(|(bt, _)| t < bt) {
            best = Some((t, index as u32));
        }
    }
    best.map(|(_, index)| index)
}
