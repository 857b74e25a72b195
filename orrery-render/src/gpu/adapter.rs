//! Choosing a graphics adapter: a real GPU when there is one, else a software rasteriser (Mesa's
//! lavapipe on Vulkan, or llvmpipe through OpenGL over EGL), so rendering works headless anywhere.
//! `WGPU_BACKEND` (`vulkan`, `gl`, `metal`, `dx12`, comma-separated) limits the backends tried and
//! `WGPU_ADAPTER_NAME` picks adapters whose name contains it.

use crate::scene::RenderError;

/// An opened device and what it runs on.
pub(crate) struct Opened {
    pub(crate) adapter: wgpu::Adapter,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
}

/// Opens the best adapter that will open, trying them in order of preference. Without
/// `WGPU_BACKEND`, OpenGL is only asked when no native backend has an adapter: starting EGL is
/// slow and noisy on machines without a display.
pub(crate) fn open() -> Result<Opened, RenderError> {
    let rounds = match wgpu::Backends::from_env() {
        Some(backends) => vec![backends],
        None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::GL],
    };
    open_from(&rounds)
}

/// Tries the backends of each round in turn, moving to the next round only when none opened.
fn open_from(rounds: &[wgpu::Backends]) -> Result<Opened, RenderError> {
    let mut seen = Vec::new();
    let mut failure = None;
    for &backends in rounds {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends,
            flags: wgpu::InstanceFlags::empty().with_env(),
            ..wgpu::InstanceDescriptor::new_without_display_handle().with_env()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends));
        seen.extend(adapters.iter().map(|a| describe(&a.get_info())));
        if let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") {
            let wanted = wanted.to_lowercase();
            adapters.retain(|a| a.get_info().name.to_lowercase().contains(&wanted));
        }
        adapters.sort_by_key(|a| preference(&a.get_info()));
        for adapter in adapters {
            let descriptor = wgpu::DeviceDescriptor {
                label: Some("orrery"),
                required_limits: adapter.limits(),
                ..Default::default()
            };
            match pollster::block_on(adapter.request_device(&descriptor)) {
                Ok((device, queue)) => {
                    return Ok(Opened {
                        adapter,
                        device,
                        queue,
                    });
                }
                Err(error) => failure = Some((describe(&adapter.get_info()), error)),
            }
        }
    }
    if let Some((adapter, error)) = failure {
        return Err(RenderError::RequestDevice {
            adapter,
            source: Box::new(error),
        });
    }
    let tried = rounds
        .iter()
        .fold(wgpu::Backends::empty(), |all, &b| all | b);
    Err(RenderError::NoAdapter {
        backends: backend_names(tried),
        seen: if seen.is_empty() {
            "none".to_owned()
        } else {
            seen.join(", ")
        },
    })
}

/// `name (backend, type)`, as error messages and logs show an adapter.
pub(crate) fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({}, {:?})", info.name, info.backend, info.device_type)
}

/// Lower is better: hardware before software, then the native API before OpenGL.
fn preference(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        wgpu::Backend::Gl => 1,
        _ => 2,
    };
    (device, backend)
}

fn backend_names(backends: wgpu::Backends) -> String {
    let names: Vec<&str> = [
        (wgpu::Backends::VULKAN, "vulkan"),
        (wgpu::Backends::GL, "gl"),
        (wgpu::Backends::METAL, "metal"),
        (wgpu::Backends::DX12, "dx12"),
    ]
    .into_iter()
    .filter(|(flag, _)| backends.contains(*flag))
    .map(|(_, name)| name)
    .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_backend_without_adapters_is_an_error_that_says_what_was_tried() {
        let Err(error) = open_from(&[wgpu::Backends::METAL]) else {
            panic!("metal opened on linux");
        };
        assert_eq!(
            error.to_string(),
            "no graphics adapter found (backends tried: metal; adapters seen: none); without a \
             GPU install Mesa's software drivers (mesa-vulkan-drivers, libegl-mesa0) or set \
             WGPU_BACKEND=gl"
        );
    }
}
