#!/usr/bin/python3
"""Reference crops for the PIL agreement measurement (not a project dependency; needs python3-pil).

torchvision Resize(S) + CenterCrop(C) on a PIL image, written out without torchvision:
shorter side -> S, longer side int(S * long / short), Image.resize (Pillow's antialiased
resampling), crop offsets round((size - C) / 2). Writes one raw RGB uint8 crop per file, in
sorted file-name order, to OUT.
usage: pil_crops.py IMAGES_DIR OUT S C bilinear|bicubic
"""
import os
import sys

from PIL import Image

src, out, size, crop, interpolation = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[interpolation]
names = sorted(os.listdir(src))
with open(out, "wb") as f:
    for name in names:
        with Image.open(os.path.join(src, name)) as opened:
            image = opened.convert("RGB")
        w, h = image.size
        if w <= h:
            ow, oh = size, int(size * h / w)
        else:
            ow, oh = int(size * w / h), size
        image = image.resize((ow, oh), resample)
        left, top = int(round((ow - crop) / 2.0)), int(round((oh - crop) / 2.0))
        f.write(image.crop((left, top, left + crop, top + crop)).tobytes())
print(f"{len(names)} crops -> {out}")
