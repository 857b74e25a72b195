//! The camera: fitted to a scene so every node is in the frame, looking along the scene's thinnest
//! direction with a slight turn so that depth reads. Pure maths (glam), no device needed.

use glam::camera::rh::proj::directx::perspective;
use glam::camera::rh::view::look_at_mat4;
use glam::{Mat3, Mat4, Vec3, Vec4Swizzles};

use crate::scene::Scene;

/// Vertical field of view, in degrees.
const FOV_Y_DEGREES: f32 = 38.0;
/// Share of the frame the scene may fill, leaving a margin around it.
const FILL: f32 = 0.9;
/// Turn around the vertical axis and tilt downwards, in degrees, so that a flat layout still shows
/// it is 3D.
const YAW_DEGREES: f32 = 24.0;
const PITCH_DEGREES: f32 = 16.0;

/// A perspective camera for one image size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    view: Mat4,
    proj: Mat4,
    width: u32,
    height: u32,
    /// Distance from the eye of the nearest and farthest node centre (for depth fog).
    depth_range: (f32, f32),
}

impl Camera {
    /// A camera for a `width` x `height` image that frames every node of `scene`, radii included,
    /// with a small margin. The scene's widest spread runs across the image.
    pub fn fit(scene: &Scene, width: u32, height: u32) -> Camera {
        let aspect = width.max(1) as f32 / height.max(1) as f32;
        let fov_y = FOV_Y_DEGREES.to_radians();
        let tan_v = (fov_y / 2.0).tan() * FILL;
        let tan_h = tan_v * aspect;
        let nodes = scene.nodes();
        if nodes.is_empty() {
            let eye = Vec3::new(0.0, 0.0, 5.0);
            return Camera {
                view: look_at_mat4(eye, Vec3::ZERO, Vec3::Y),
                proj: perspective(fov_y, aspect, 0.1, 100.0),
                width,
                height,
                depth_range: (4.0, 6.0),
            };
        }

        let points: Vec<Vec3> = nodes.iter().map(|n| Vec3::from(n.position)).collect();
        let mean = points.iter().copied().sum::<Vec3>() / points.len() as f32;
        let (right, up, back) = orientation(&points, mean);

        // Node coordinates in the camera's axes, relative to the mean.
        let local: Vec<(Vec3, f32)> = points
            .iter()
            .zip(nodes)
            .map(|(&p, n)| {
                let d = p - mean;
                (Vec3::new(d.dot(right), d.dot(up), d.dot(back)), n.radius)
            })
            .collect();
        let (mut lo, mut hi) = (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY));
        for &(p, r) in &local {
            lo = lo.min(p - r);
            hi = hi.max(p + r);
        }
        let shift = Vec3::new((lo.x + hi.x) / 2.0, (lo.y + hi.y) / 2.0, 0.0);

        // The smallest distance at which every node (with a little slack for its silhouette)
        // lies inside the frame.
        let mut distance = f32::MIN_POSITIVE;
        for &(p, r) in &local {
            let p = p - shift;
            let slack = r * 1.05;
            let need = ((p.x.abs() + slack) / tan_h).max((p.y.abs() + slack) / tan_v) + p.z;
            distance = distance.max(need).max(p.z + 2.0 * r);
        }
        let target = mean + right * shift.x + up * shift.y;
        let eye = target + back * distance;

        let (mut near, mut far) = (f32::INFINITY, 0.0f32);
        let (mut closest, mut farthest) = (f32::INFINITY, 0.0f32);
        for &(p, r) in &local {
            let depth = distance - p.z;
            near = near.min(depth - r);
            far = far.max(depth + r);
            closest = closest.min(depth);
            farthest = farthest.max(depth);
        }
        let far = far * 1.05;
        let near = (near * 0.9).max(far * 1e-5);
        Camera {
            view: look_at_mat4(eye, target, up),
            proj: perspective(fov_y, aspect, near, far),
            width,
            height,
            depth_range: (closest, farthest),
        }
    }

    /// Where `point` lands in the image, in pixels from the top-left corner (`x` right, `y`
    /// down), or `None` if it is behind the camera. Points outside the frame give coordinates
    /// outside `0..width` and `0..height`.
    pub fn project(&self, point: [f32; 3]) -> Option<[f32; 2]> {
        let clip = self.proj * self.view * Vec3::from(point).extend(1.0);
        if clip.w <= 0.0 {
            return None;
        }
        let ndc = clip.xy() / clip.w;
        Some([
            (ndc.x + 1.0) / 2.0 * self.width as f32,
            (1.0 - ndc.y) / 2.0 * self.height as f32,
        ])
    }

    /// The ray through image point (`x`, `y`) (pixels from the top-left corner; a pixel's centre is
    /// at `+ 0.5`): the eye and a unit direction, in layout units.
    pub fn ray(&self, x: f32, y: f32) -> ([f32; 3], [f32; 3]) {
        let ndc_x = x / self.width as f32 * 2.0 - 1.0;
        let ndc_y = 1.0 - y / self.height as f32 * 2.0;
        let inverse = (self.proj * self.view).inverse();
        let near = inverse.project_point3(Vec3::new(ndc_x, ndc_y, 0.0));
        let far = inverse.project_point3(Vec3::new(ndc_x, ndc_y, 1.0));
        let eye = Vec3::from(self.eye());
        (eye.into(), (far - near).normalize_or(Vec3::NEG_Z).into())
    }

    /// The radius in pixels of a sphere of `radius` at `centre` (approximate off the axis).
    pub fn pixel_radius(&self, centre: [f32; 3], radius: f32) -> f32 {
        let depth = -(self.view * Vec3::from(centre).extend(1.0)).z;
        if depth <= 0.0 {
            return 0.0;
        }
        radius * self.proj.y_axis.y * self.height as f32 / 2.0 / depth
    }

    /// The eye position, in layout units.
    pub fn eye(&self) -> [f32; 3] {
        self.view.inverse().w_axis.xyz().into()
    }

    /// Image size the camera was fitted for.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub(crate) fn view(&self) -> Mat4 {
        self.view
    }

    pub(crate) fn proj(&self) -> Mat4 {
        self.proj
    }

    pub(crate) fn depth_range(&self) -> (f32, f32) {
        self.depth_range
    }
}

/// The camera's right, up and backward axes: the scene's principal axes (widest across, second
/// widest up, thinnest towards the viewer), then turned a little so that depth shows.
fn orientation(points: &[Vec3], mean: Vec3) -> (Vec3, Vec3, Vec3) {
    let mut cov = [[0.0f64; 3]; 3];
    for p in points {
        let d = (*p - mean).as_dvec3().to_array();
        for (i, row) in cov.iter_mut().enumerate() {
            for (j, c) in row.iter_mut().enumerate() {
                *c += d[i] * d[j];
            }
        }
    }
    let (values, vectors) = symmetric_eigen(cov);
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    // Eigenvectors have no sign of their own: pick the one whose largest component is positive,
    // so that the same layout always gives the same view.
    let axis = |k: usize| {
        let v = Vec3::new(
            vectors[0][k] as f32,
            vectors[1][k] as f32,
            vectors[2][k] as f32,
        );
        let largest = v
            .to_array()
            .into_iter()
            .fold(0.0f32, |m, c| if c.abs() > m.abs() { c } else { m });
        if largest < 0.0 { -v } else { v }
    };
    let right = axis(order[0]).normalize_or(Vec3::X);
    let up = axis(order[1]).reject_from(right).normalize_or(Vec3::Y);
    let back = right.cross(up);

    let turn = Mat3::from_axis_angle(up, YAW_DEGREES.to_radians());
    let (right, back) = (turn * right, turn * back);
    let tilt = Mat3::from_axis_angle(right, -PITCH_DEGREES.to_radians());
    let (up, back) = (tilt * up, tilt * back);
    (right, up, back)
}

/// Eigenvalues and eigenvectors (as columns) of a symmetric 3x3 matrix, by Jacobi rotations.
#[allow(clippy::needless_range_loop)] // Index loops read best for rotating rows and columns.
fn symmetric_eigen(mut a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..32 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        let scale = a[0][0].abs() + a[1][1].abs() + a[2][2].abs();
        if off <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < f64::MIN_POSITIVE {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            for k in 0..3 {
                let (akp, akq) = (a[k][p], a[k][q]);
                a[k][p] = c * akp - s * akq;
                a[k][q] = s * akp + c * akq;
            }
            for k in 0..3 {
                let (apk, aqk) = (a[p][k], a[q][k]);
                a[p][k] = c * apk - s * aqk;
                a[q][k] = s * apk + c * aqk;
            }
            for row in &mut v {
                let (vkp, vkq) = (row[p], row[q]);
                row[p] = c * vkp - s * vkq;
                row[q] = s * vkp + c * vkq;
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2]], v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_decomposition_diagonalises_a_symmetric_matrix() {
        let a = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 1.0]];
        let (values, v) = symmetric_eigen(a);
        for k in 0..3 {
            for i in 0..3 {
                let av: f64 = (0..3).map(|j| a[i][j] * v[j][k]).sum();
                assert!(
                    (av - values[k] * v[i][k]).abs() < 1e-9,
                    "column {k}, row {i}"
                );
            }
        }
    }

    #[test]
    fn the_widest_spread_runs_across_the_picture() {
        let points: Vec<Vec3> = (0..20)
            .map(|i| Vec3::new(0.0, i as f32 * 3.0, (i % 3) as f32 * 0.1))
            .collect();
        let mean = points.iter().copied().sum::<Vec3>() / points.len() as f32;
        let (right, _, _) = orientation(&points, mean);
        assert!(right.y.abs() > 0.85, "{right}");
    }
}
