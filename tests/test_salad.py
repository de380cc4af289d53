"Fast checks of hessgeo.salad (the notebook nbs/12_salad.ipynb has the full set)."
import numpy as np
import pytest
from PIL import Image

from hessgeo.salad import (SaladSet, load_salad_folder, make_digit_salad, nn_retrieval, one_hot, pairwise_distances,
                           parse_salad_name, similarity_weights)


def write_folder(tmp_path, cats=('apple', 'kiwi', 'fig'), styles=('comic', 'pixel art'), n=2):
    rng = np.random.default_rng(0)
    for c in cats:
        for s in styles:
            for i in range(n):
                Image.fromarray((rng.random((12, 10, 3)) * 255).astype(np.uint8)).save(tmp_path / f'{c}_{s}_{i}.png')


def test_load_folder_layout(tmp_path):
    write_folder(tmp_path)
    (tmp_path / 'notes.txt').write_text('skip me')
    ds = load_salad_folder(tmp_path, size=8, require_balanced=True, progress=False)
    assert ds.images.shape == (12, 8, 8, 3) and ds.images.dtype == np.float32
    assert ds.category_names == ['apple', 'fig', 'kiwi'] and ds.style_names == ['comic', 'pixel art']
    assert (ds.counts() == 2).all()


def test_load_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_salad_folder(tmp_path / 'missing')
    with pytest.raises(ValueError, match='holds no image files'):
        load_salad_folder(tmp_path)
    write_folder(tmp_path)
    (tmp_path / 'apple_comic_9.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match='cannot decode SALAD image'):
        load_salad_folder(tmp_path, progress=False)
    (tmp_path / 'apple_comic_9.png').unlink()
    Image.new('RGB', (4, 4)).save(tmp_path / 'noseparator.png')
    with pytest.raises(ValueError, match="malformed SALAD file name 'noseparator.png'"):
        load_salad_folder(tmp_path, progress=False)


def test_parse_names():
    assert parse_salad_name('pear_renaissance oil_0042.jpg') == ('pear', 'renaissance oil')
    with pytest.raises(ValueError, match='malformed'):
        parse_salad_name('pear_.png')


def test_conceptual_models_are_the_two_ends():
    ds = make_digit_salad(n_per_cell=3, seed=1, size=16)
    assert ds.balanced and len(ds) == 300
    for E, expect in [(one_hot(ds.category), (1.0, 0.0)), (one_hot(ds.style), (0.0, 1.0))]:
        w = similarity_weights(pairwise_distances(E), ds.category, ds.style)
        assert w.w_category == pytest.approx(expect[0], abs=1e-12)
        assert w.w_style == pytest.approx(expect[1], abs=1e-12)
    r = nn_retrieval(pairwise_distances(one_hot(ds.category)), ds.category, ds.style)
    assert r.category_rate == pytest.approx(1.0) and r.style_rate == pytest.approx(2 / 29)   # (n-1)/(S n - 1)


def test_weights_of_weighted_concatenation():
    # squared distances of [a onehot(cat), b onehot(sty)] are 2a^2(1-c) + 2b^2(1-s): OLS gives (a^2, b^2)/(a^2+b^2)
    cat = np.repeat(np.arange(5), 4); sty = np.tile(np.arange(4), 5)
    E = np.concatenate([3.0 * one_hot(cat), 1.0 * one_hot(sty)], 1)
    w = similarity_weights(pairwise_distances(E) ** 2, cat, sty)
    assert (w.w_category, w.w_style) == pytest.approx((0.9, 0.1), abs=1e-12)


def test_digit_salad_reproducible_and_bad_input():
    a = make_digit_salad(n_per_cell=2, seed=5, size=16)
    b = make_digit_salad(n_per_cell=2, seed=5, size=16)
    assert np.array_equal(a.images, b.images) and 0 <= a.images.min() and a.images.max() <= 1
    with pytest.raises(ValueError, match='n_per_cell must be <='):
        make_digit_salad(n_per_cell=1000)
    with pytest.raises(ValueError, match='embeddings must be finite'):
        pairwise_distances(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match='>= 2 categories'):
        SaladSet(np.zeros((2, 4, 4, 3), np.float32), np.zeros(2, int), np.array([0, 1]), ['a'], ['x', 'y'])


def test_clip_loader_on_a_tiny_local_checkpoint(tmp_path):
    # the loading code only (no real CLIP weights exist in the project): a random tiny CLIP written in the
    # transformers format must load from the folder and give the model's own image features
    transformers = pytest.importorskip('transformers')
    import torch
    from hessgeo.salad import load_clip_embedder
    cfg = transformers.CLIPConfig(
        text_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1, vocab_size=64),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1, image_size=32, patch_size=8),
        projection_dim=8)
    torch.manual_seed(0)
    model = transformers.CLIPModel(cfg).eval()
    model.save_pretrained(tmp_path)
    proc = transformers.CLIPImageProcessor(size={'shortest_edge': 32}, crop_size={'height': 32, 'width': 32})
    proc.save_pretrained(tmp_path)
    imgs = np.random.default_rng(1).random((3, 24, 24, 3)).astype(np.float32)
    E = load_clip_embedder(str(tmp_path), batch_size=2)(imgs)
    px = proc(images=[(im * 255).astype(np.uint8) for im in imgs], return_tensors='pt')['pixel_values']
    with torch.no_grad(): ref = model.get_image_features(pixel_values=px)
    ref = ref if torch.is_tensor(ref) else ref.pooler_output
    assert E.shape == (3, 8) and np.allclose(E, ref.double().numpy(), atol=1e-5)


def test_clip_loader_refuses_cleanly(tmp_path, monkeypatch):
    from hessgeo.salad import load_clip_embedder
    monkeypatch.delenv('HESSGEO_CLIP_DIR', raising=False)
    with pytest.raises(RuntimeError, match='no local weights given'):
        load_clip_embedder()
    with pytest.raises(RuntimeError, match='is not a folder'):
        load_clip_embedder(str(tmp_path / 'missing'))
