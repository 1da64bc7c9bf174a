//! Disk usage of images for `GET /system/df`: layer sizes, and each image's shared size.

use berth_api::models::ImageSummary;
use berth_api::Filters;

use crate::error::ImageError;
use crate::records;
use crate::service::ImageService;

/// The image part of `docker system df`.
#[derive(Debug, Clone, Default)]
pub struct ImageUsage {
    /// Unpacked bytes of every layer in the store, each counted once.
    pub layers_size: i64,
    /// The images, with `SharedSize` set (`Containers` is left for the daemon to fill in).
    pub images: Vec<ImageSummary>,
}

/// Bytes of `image`'s layers that at least one other image lists too (dockerd's SharedSize).
pub(crate) fn shared_size(
    layers: &[records::LayerRow],
    image_counts: &std::collections::HashMap<String, i64>,
) -> i64 {
    layers
        .iter()
        .filter(|l| image_counts.get(&l.chain_id).copied().unwrap_or(0) > 1)
        .map(|l| l.size)
        .sum()
}

impl ImageService {
    /// Images with their shared sizes, and the total size of all layers.
    pub fn disk_usage(&self) -> Result<ImageUsage, ImageError> {
        let mut images = self.list(false, &Filters::default())?;
        let counts = records::layer_image_counts(&self.db)?;
        for img in &mut images {
            let layers = records::layers_of(&self.db, &img.id)?;
            img.shared_size = shared_size(&layers, &counts);
        }
        let layers_size = records::all_layers(&self.db)?.iter().map(|l| l.size).sum();
        Ok(ImageUsage {
            layers_size,
            images,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(chain: &str, size: i64) -> records::LayerRow {
        records::LayerRow {
            chain_id: chain.to_string(),
            diff_id: chain.to_string(),
            size,
            blob: None,
        }
    }

    #[test]
    fn shared_size_counts_layers_other_images_use() {
        let counts = [("base".to_string(), 2), ("top".to_string(), 1)].into();
        assert_eq!(
            shared_size(&[layer("base", 100), layer("top", 7)], &counts),
            100
        );
        assert_eq!(shared_size(&[layer("top", 7)], &counts), 0);
        assert_eq!(shared_size(&[], &counts), 0);
    }
}
