"""The token layers against torch's own: attention computes what nn.MultiheadAttention does
with the same weights (random ones, every head count that splits the features), and the
class token, position embedding and token pick do what torchvision's VisionTransformer does
around its encoder."""

from __future__ import annotations

import pytest
import torch

from cnncli.layers import REGISTRY, ShapeError


@pytest.mark.parametrize("features,heads,bias", [(12, 1, True), (12, 3, True), (12, 4, False),
                                                 (12, 12, True), (16, 8, False)])
def test_attention_is_multihead_attention(features: int, heads: int, bias: bool) -> None:
    torch.manual_seed(heads)
    theirs = torch.nn.MultiheadAttention(features, heads, bias=bias, batch_first=True)
    with torch.no_grad():  # no zero biases: every weight matters
        for p in theirs.parameters():
            p.uniform_(-0.5, 0.5)
    layer = REGISTRY["attention"].create(heads=heads, bias=bias)
    ours = layer.build((features, 7))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(3, 7, features)
    want = theirs(x, x, x, need_weights=False)[0]
    got = ours(x.transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(got, want, atol=1e-5), (got - want).abs().max()
    # another head count computes another function with the same weights
    if heads > 1:
        one = REGISTRY["attention"].create(heads=1, bias=bias).build((features, 7))
        one.load_state_dict(theirs.state_dict())
        assert not torch.allclose(one(x.transpose(1, 2)).transpose(1, 2), want, atol=1e-3)


def test_class_token_position_embedding_and_token_as_torchvisions_vit() -> None:
    """torchvision: x = cat([class_token.expand(n, -1, -1), x], 1); x + pos_embedding;
    x[:, 0]; here on (N, D, L) tokens."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 6)  # torchvision's (N, L, D)
    token = REGISTRY["class_token"].create().build((6, 5))
    position = REGISTRY["position_embedding"].create().build((6, 6))
    with torch.no_grad():
        token.class_token.uniform_()
    want = torch.cat([token.class_token.expand(2, -1, -1), x], dim=1) + position.pos_embedding
    got = position(token(x.transpose(1, 2)))
    assert torch.equal(got.transpose(1, 2), want)
    assert torch.equal(REGISTRY["token"].create(index=0).build((6, 6))(got), want[:, 0])


@pytest.mark.parametrize("kind,options,shape,said", [
    ("attention", {"heads": 5}, (12, 7), "12 features do not split into 5 heads"),
    ("attention", {"heads": 2}, (12, 7, 7), "attention needs a token sequence D x L (a map "
     "flattened with flatten: {start: 1}) but gets a feature map 12x7x7"),
    ("class_token", {}, (12,), "class_token needs a token sequence D x L (a map flattened "
     "with flatten: {start: 1}) but gets a flat vector 12"),
    ("token", {"index": 7}, (12, 7), "token 7 is past the 7 tokens of 12x7"),
])
def test_token_layers_refuse_with_a_sentence(kind: str, options: dict, shape: tuple,
                                             said: str) -> None:
    with pytest.raises(ShapeError) as caught:
        REGISTRY[kind].create(**options).infer(shape)
    assert str(caught.value) == said
