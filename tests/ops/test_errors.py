"""Bad input raises ValueError/TypeError that names the op, the axis, the numbers and the rule."""
import re

import numpy as np
import pytest

from convscope import ops

x2 = np.zeros((1, 4, 5, 5))
w2 = np.zeros((6, 4, 3, 3))

BAD = [
    # (call, exception, message pattern)
    (lambda: ops.conv(x2, np.zeros((1, 4, 7, 3))), ValueError,
     r"conv \(spatial axis 0\): kernel 7 \(dilated 7\) > padded input 5 .*floor\(\(i \+ p_lo \+ p_hi - d\(k-1\) - 1\)/s\) \+ 1"),
    (lambda: ops.conv(x2, w2, dilation=3), ValueError, r"kernel 3 \(dilated 7\) > padded input 5"),
    (lambda: ops.output_size(4, 5, padding=0), ValueError, r"kernel 5 \(dilated 5\) > padded input 4"),
    (lambda: ops.conv(x2, np.zeros((6, 2, 3, 3)), groups=3), ValueError, r"in_channels 4 .* divisible by groups 3"),
    (lambda: ops.conv(x2, np.zeros((6, 3, 3, 3))), ValueError,
     r"expects in_channels/groups = 3, but the input has 4 channels and groups = 1"),
    (lambda: ops.conv(x2, np.zeros((5, 2, 3, 3)), groups=2), ValueError, r"out_channels 5 must both be divisible"),
    (lambda: ops.conv(x2, w2, padding=-1), ValueError, r"conv \(spatial axis 0\): padding must be >= 0, got -1"),
    (lambda: ops.conv(x2, w2, padding=((0, 1), (2, -3))), ValueError, r"spatial axis 1\): padding must be >= 0, got -3"),
    (lambda: ops.conv(x2, w2, padding="middle"), ValueError, r"padding 'middle' is not one of 'valid', 'same', 'full'"),
    (lambda: ops.conv(x2, w2, stride=0), ValueError, r"spatial axis 0\): stride must be >= 1, got 0"),
    (lambda: ops.conv(x2, w2, stride=(1, 2, 1)), ValueError, r"stride \(1, 2, 1\) has 3 entries but the input has 2"),
    (lambda: ops.conv(x2, w2, dilation=1.5), TypeError, r"dilation must be an int, got 1.5"),
    (lambda: ops.conv(np.zeros((1, 4, 5)), w2), ValueError, r"input of shape \(1, 4, 5\) has 1 spatial axes but weight"),
    (lambda: ops.conv(np.zeros((1, 4)), w2), ValueError, r"has 0 spatial axes; expected \(N, C, \*spatial\) with 1 to 3"),
    (lambda: ops.conv(np.zeros((1, 1, 2, 2, 2, 2)), w2), ValueError, r"has 4 spatial axes"),
    (lambda: ops.conv(np.zeros((1, 4, 5, 5), dtype=np.int64), w2), TypeError, r"input dtype int64 is not supported"),
    (lambda: ops.conv(x2, np.zeros((6, 4, 3, 3), dtype=np.int32)), TypeError,
     r"conv: input, weight and bias must share one floating dtype .*got input float64, weight int32, bias None"),
    # one dtype for all three, as in PyTorch: no silent cast, no complex bias losing its imaginary part
    (lambda: ops.conv(x2, w2.astype(np.float32)), TypeError, r"got input float64, weight float32, bias None"),
    (lambda: ops.conv(x2, w2, np.zeros(6, complex)), TypeError, r"got input float64, weight float64, bias complex128"),
    (lambda: ops.conv(x2.astype(np.float32), w2.astype(np.float32), np.zeros(6)), TypeError,
     r"got input float32, weight float32, bias float64; cast them first"),
    (lambda: ops.conv_backward(np.zeros((1, 6, 3, 3)), x2, w2.astype(np.float32)), TypeError,
     r"conv_backward: input and weight must share one floating dtype .*got input float64, weight float32;"),
    (lambda: ops.conv_transpose(np.zeros((1, 2, 3)), np.zeros((2, 1, 3), np.float32)), TypeError,
     r"conv_transpose: .*got input float64, weight float32, bias None"),
    (lambda: ops.conv_transpose_backward(np.zeros((1, 1, 5)), np.zeros((1, 2, 3), np.float32), np.zeros((2, 1, 3))),
     TypeError, r"conv_transpose_backward: input and weight .*got input float32, weight float64"),
    # zero channels: PyTorch refuses a weight with no output channels, and a transposed conv with none at all
    (lambda: ops.conv(x2, np.zeros((0, 4, 3, 3))), ValueError, r"conv: weight of shape \(0, 4, 3, 3\) has 0 output channels"),
    (lambda: ops.conv_transpose(np.zeros((1, 0, 3)), np.zeros((0, 2, 3))), ValueError,
     r"conv_transpose: weight of shape \(0, 2, 3\) has 0 channels"),
    (lambda: ops.conv_transpose(np.zeros((1, 2, 3)), np.zeros((2, 0, 3))), ValueError, r"has 0 channels"),
    (lambda: ops.max_pool(np.zeros((2, 0, 4, 4)), 2), ValueError, r"max_pool: input of shape \(2, 0, 4, 4\) has 0 channels"),
    # a missing batch axis is named, with the fix
    (lambda: ops.conv(np.zeros((4, 5, 5)), w2), ValueError,
     r"conv: input of shape \(4, 5, 5\) has 1 spatial axes but weight .* add a batch axis: x\[None\]"),
    (lambda: ops.conv_transpose(np.zeros((2, 5, 5)), np.zeros((2, 1, 3, 3))), ValueError, r"add a batch axis: x\[None\]"),
    (lambda: ops.max_pool(np.zeros((4, 6, 6)), 2, spatial_dims=2), ValueError,
     r"max_pool: input of shape \(4, 6, 6\) has 3 axes; expected \(N, C, \*spatial\) with 2 spatial axes, 4 axes "
     r"in all; for one unbatched sample \(C, \*spatial\), add a batch axis: x\[None\]"),
    (lambda: ops.avg_pool(np.zeros((1, 4, 6, 6, 6)), 2, spatial_dims=2), ValueError, r"avg_pool: input of shape .* has 5 axes"),
    (lambda: ops.avg_pool_backward(np.zeros((4, 3, 3)), (4, 6, 6), 2, spatial_dims=2), ValueError,
     r"avg_pool_backward: input of shape \(4, 6, 6\) has 3 axes.*x\[None\]"),
    (lambda: ops.max_pool(x2, 2, spatial_dims=4), ValueError, r"max_pool: spatial_dims must be 1 to 3, got 4"),
    (lambda: ops.max_pool(x2, 2, spatial_dims=0), ValueError, r"max_pool: spatial_dims must be >= 1, got 0"),
    (lambda: ops.max_pool(x2, 2, spatial_dims=2.0), TypeError, r"max_pool: spatial_dims must be an int"),
    # never a negative axis count
    (lambda: ops.conv(np.zeros(()), w2), ValueError, r"conv: input of shape \(\) has 0 axes; expected \(N, C, \*spatial\)"),
    (lambda: ops.max_pool(np.zeros(5), 2), ValueError, r"max_pool: input of shape \(5,\) has 1 axes; expected"),
    (lambda: ops.conv(x2, w2, stride=(1, 2, 1)), ValueError, r"^conv: stride \(1, 2, 1\) has 3 entries"),
    (lambda: ops.conv(x2, w2, np.zeros(5)), ValueError, r"bias of shape \(5,\) must be \(6,\)"),
    (lambda: ops.conv_backward(np.zeros((1, 6, 2, 2)), x2, w2), ValueError,
     r"upstream gradient has shape \(1, 6, 2, 2\), expected \(1, 6, 3, 3\)"),
    (lambda: ops.conv_transpose(np.zeros((1, 2, 3)), np.zeros((2, 1, 3)), stride=2, output_padding=2), ValueError,
     r"output_padding 2 must be smaller than stride 2 or dilation 1"),
    (lambda: ops.conv_transpose(np.zeros((1, 2, 1)), np.zeros((2, 1, 1)), padding=1), ValueError,
     r"output size -1 <= 0 .*\(i-1\)s - p_lo - p_hi \+ d\(k-1\) \+ output_padding \+ 1"),
    (lambda: ops.conv_transpose(np.zeros((1, 3, 4)), np.zeros((2, 1, 3))), ValueError,
     r"input has 3 channels but weight of shape \(2, 1, 3\) expects in_channels = 2"),
    (lambda: ops.conv_transpose(np.zeros((1, 2, 4)), np.zeros((2, 1, 3)), padding="same"), ValueError,
     r"padding must be an int"),
    (lambda: ops.max_pool(x2, 2, padding=2), ValueError, r"padding \(2, 2\) must be at most half the kernel"),
    (lambda: ops.max_pool(x2, 7), ValueError, r"max_pool \(spatial axis 0\): kernel 7 .* > padded input 5"),
    (lambda: ops.avg_pool(x2.astype(np.int8), 2), TypeError, r"avg_pool: input dtype int8"),
    (lambda: ops.kmax_pool(x2, 6), ValueError, r"1 <= k <= 5"),
    (lambda: ops.kmax_pool(x2, 2, axis=4), ValueError, r"axis 4 is out of range"),
    (lambda: ops.col2im(np.zeros((1, 9, 5)), (1, 1, 4, 4), 3), ValueError,
     r"cols of shape \(1, 9, 5\) do not match .* expected \(N, C\*prod\(K\), prod\(S_out\)\) = \(1, 9, 4\)"),
    (lambda: ops.conv_matrix((4, 5), w2), ValueError, r"input_shape \(4, 5\) must be \(C, \*spatial\) with 2"),
    (lambda: ops.transposed_output_size(3, 3, stride=1, dilation=1, output_padding=1), ValueError,
     r"output_padding 1 must be smaller than stride 1 or dilation 1"),
]


@pytest.mark.parametrize("call,exc,pattern", BAD, ids=[f"case{i}" for i in range(len(BAD))])
def test_bad_input_gets_a_clear_error(call, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        call()
    assert not re.search(r"-\d+ (spatial )?axes", str(info.value)), "no negative axis counts"


def test_a_window_op_that_cannot_fit_is_refused_before_it_allocates():
    """An absurd padding (an ONNX file's, say) is refused from the sizes; shapes alone still trace."""
    x, w = np.zeros((1, 4, 8, 8), np.float32), np.zeros((4, 4, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"conv: its padded input and output take [\d,]+ bytes .* but [\d,]+ are"):
        ops.conv(x, w, padding=((0, 2 ** 40), (0, 0)))
    import convscope as cs

    model = cs.nn.Sequential(cs.nn.Conv2d(4, 4, 3, padding=10 ** 6))
    assert cs.summary(model, (4, 8, 8)).rows[-1].output_shape[-1] == 2 * 10 ** 6 + 6  # analysed from shapes
    with pytest.raises(ValueError, match=r"Conv2d '0': conv: its padded input and output take"):
        model(cs.Tensor(x))
