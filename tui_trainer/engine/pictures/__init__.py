"""Pictures of validation passes: what the model sees and gets wrong.

`keep` chooses on the device (fixed sample positions, the k worst rows by `torch.topk`
merges), `collect` / `detect` are the collectors `validate` feeds each batch, `scores` the
per-image Dice and F1, `images` / `draw` / `heatmap` make the pictures, `sets` the
`runlog.pictures.PictureSet`s, `write` puts them in place atomically, and `recorder` is what
the trainer uses after each epoch's validation.
"""
