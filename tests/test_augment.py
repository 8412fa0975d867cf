"""Augmentation recipes: one random draw for image and mask, seeded, the studies' shapes."""

import numpy as np
import pytest
import torch

from core.data.augment import RECIPES, RandomBorderPad, apply_seeded, base_size, build_transform
from core.errors import InputError


def _disc(size=48):
    yy, xx = np.mgrid[:size, :size]
    mask = ((yy - size * 0.4) ** 2 + (xx - size * 0.6) ** 2 < (size * 0.2) ** 2).astype(np.uint8)
    return torch.from_numpy(mask * 255)[None], torch.from_numpy(mask)


@pytest.mark.parametrize("recipe", ["affine_fill", "segmentation", "basic", "crop_jitter"])
def test_image_and_mask_get_the_same_geometry(recipe):
    image, mask = _disc()
    t = build_transform(recipe, train=True, input_size=48)
    for seed in range(6):
        x, m = apply_seeded(t, seed, image, mask)
        assert x.shape == (1, 48, 48) and m.shape == (48, 48)
        bright = (x[0] > 0.5).numpy()
        agree = (bright == (m.numpy() > 0)).mean()
        assert agree > 0.97, (recipe, seed, agree)


def test_seeded_and_varied():
    image, mask = _disc()
    t = build_transform("affine_fill", train=True, input_size=48)
    a = apply_seeded(t, 5, image, mask)
    b = apply_seeded(t, 5, image, mask)
    c = apply_seeded(t, 6, image, mask)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    state = torch.random.get_rng_state()
    apply_seeded(t, 1, image, mask)
    assert torch.equal(state, torch.random.get_rng_state())      # global RNG untouched


def test_border_pad_modes_fill_differently():
    img = torch.arange(16, dtype=torch.uint8).reshape(1, 4, 4)
    from torchvision import tv_tensors

    pad = RandomBorderPad(fraction=0.5)
    outs = {}
    for mode in ("constant", "nearest", "reflect", "wrap"):
        outs[mode] = pad.transform(tv_tensors.Image(img), {"mode": mode})
        assert outs[mode].shape == (1, 8, 8)
        assert torch.equal(outs[mode][:, 2:6, 2:6], img)
    assert outs["constant"][0, 0, 0] == 0
    assert outs["nearest"][0, 0, 0] == img[0, 0, 0]
    assert outs["wrap"][0, 0, 0] == img[0, 2, 2]
    assert outs["reflect"][0, 0, 0] == img[0, 2, 2]
    with pytest.raises(InputError):
        RandomBorderPad(modes=("mirror",))


def test_crop_recipe_and_imagenet_normalisation():
    size = 32
    big = base_size(size, 256 / 224)
    assert big == round(32 * 256 / 224)
    img = torch.full((3, big, big), 255, dtype=torch.uint8)
    x, m = build_transform("crop_flip", train=False, input_size=size, normalization="imagenet", in_channels=3)(img)
    assert x.shape == (3, size, size) and m is None
    assert torch.allclose(x[:, 0, 0], (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225]))
    x2, _ = apply_seeded(build_transform("crop_flip", train=True, input_size=size, normalization="imagenet",
                                         in_channels=3), 0, img)
    assert x2.shape == (3, size, size)


def test_eval_is_deterministic_and_resizes():
    t = build_transform("affine_fill", train=False, input_size=16)
    img = torch.randint(0, 255, (1, 20, 20), dtype=torch.uint8)
    x1, _ = t(img)
    x2, _ = t(img)
    assert x1.shape == (1, 16, 16) and torch.equal(x1, x2)


def test_unknown_recipe():
    with pytest.raises(InputError):
        build_transform("bogus", train=True, input_size=16)
    assert "affine_fill" in RECIPES
