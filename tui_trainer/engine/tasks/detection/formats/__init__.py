"""Readers of the detection data layouts people already have: YOLO, COCO JSON, Pascal VOC."""
