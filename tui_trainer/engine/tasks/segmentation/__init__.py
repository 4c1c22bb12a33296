"""Semantic segmentation: its task object (`task`), data sources (`data`: generated `shapes`,
mask folders `folder`, their mask loader `loader`), models (U-Net, torchvision FCN / DeepLabV3 /
LR-ASPP), Dice / IoU / BCE / focal losses, Dice and IoU metrics and the text mask preview."""
