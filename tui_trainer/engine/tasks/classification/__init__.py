"""Image classification: its task object (`task`), data sources (`data`: digits, fake,
cifar10, imagefolder, whose readers live in `engine.data`), models (`small_cnn`, torchvision
classifiers), the cross-entropy loss and the accuracy / per-class report metrics."""
