"""Object detection: YOLO / COCO / VOC data and generated shapes, torchvision's detectors and a
tiny one, letterbox and box-aware augmentation (mosaic included), COCO mAP."""
