"""Variational N-D convolution and transposed convolution (private bases)."""

import numbers

import keras
from keras.src.backend.common.backend_utils import compute_conv_transpose_output_shape
from keras.src.ops.operation_utils import compute_conv_output_shape
from keras.src.utils.argument_validation import standardize_padding
from keras.src.utils.argument_validation import standardize_tuple

from bayes_zoo.layers.base_variational import BaseVariational


class BaseVariationalConv(BaseVariational):
    """Abstract N-D variational convolution.

    Args:
        rank: int, the rank of the convolution (1, 2 or 3).
        filters: int > 0, the number of output channels.
        kernel_size: int or tuple of `rank` ints.
        strides: int or tuple of `rank` ints, as in `keras.layers.Conv2D`.
        padding: `"valid"` or `"same"`.
        data_format: `"channels_last"` or `"channels_first"`.
        dilation_rate: int or tuple of `rank` ints.
        **kwargs: the arguments of `BaseVariational` (activation, use_bias,
            estimator, prior, posterior, kl_weight, use_posterior_mean, seed)
            and base layer keyword arguments.
    """

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, numbers.Integral) or filters <= 0:
            raise ValueError(
                "Argument `filters` must be a positive integer. "
                f"Received: filters={filters!r}"
            )
        self.rank = rank
        self.filters = int(filters)
        self.kernel_size = standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = standardize_tuple(strides, rank, "strides")
        self.dilation_rate = standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = standardize_padding(padding)
        self.data_format = keras.src.backend.standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` is not supported together with `dilation_rate > 1`. "
                f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )

    def channel_axis(self):
        return -1 if self.data_format == "channels_last" else 1

    def output_channels(self):
        return self.filters

    def input_channels(self, input_shape):
        return input_shape[self.channel_axis()]

    def check_input_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {self.rank + 2} "
                "(batch, spatial dims..., channels). Received: "
                f"input_shape={tuple(input_shape)}"
            )
        if self.input_channels(input_shape) is None:
            raise ValueError(
                f"The channel dimension of the inputs of {type(self).__name__} "
                f"must be known. Received: input_shape={tuple(input_shape)}"
            )
        self.check_output_size(input_shape)

    def spatial_sizes(self, input_shape):
        """The input's spatial sizes (None where unknown)."""
        if self.data_format == "channels_last":
            return tuple(input_shape[1:-1])
        return tuple(input_shape[2:])

    def check_output_size(self, input_shape):
        """Raises ValueError where a known spatial size leaves no output.

        Checked in `build`, as `keras.layers.Conv2D` does: the backend would
        otherwise fail (or, on some devices, return garbage) on the first
        call. Unknown sizes are left to the call.
        """
        for axis, size in enumerate(self.spatial_sizes(input_shape)):
            if size is None:
                continue
            kernel, dilation = self.kernel_size[axis], self.dilation_rate[axis]
            stride = self.strides[axis]
            effective_kernel = dilation * (kernel - 1) + 1
            if self.padding == "valid":
                output_size = (size - effective_kernel) // stride + 1
            else:
                output_size = -(-size // stride)
            if output_size <= 0:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}' leaves no output along "
                    f"spatial axis {axis}: input size {size}, kernel size {kernel}, "
                    f"dilation rate {dilation} (effective kernel size "
                    f"{effective_kernel}), stride {stride}, padding "
                    f"'{self.padding}' give an output size of {output_size}. Fix: "
                    "use padding='same', a smaller kernel_size or dilation_rate, or "
                    f"larger inputs. Received: input_shape={tuple(input_shape)}"
                )

    def kernel_shape(self, input_shape):
        return self.kernel_size + (self.input_channels(input_shape), self.filters)

    def linear_op(self, inputs, kernel):
        return keras.ops.conv(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def compute_output_shape(self, input_shape):
        return compute_conv_output_shape(
            input_shape,
            self.filters,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
            }
        )
        return config


class BaseVariationalConvTranspose(BaseVariationalConv):
    """Abstract N-D variational transposed convolution.

    Args:
        output_padding: int, tuple of `rank` ints, or None, as in
            `keras.layers.Conv2DTranspose`.
        (The other arguments are those of `BaseVariationalConv`.)
    """

    def __init__(self, rank, filters, kernel_size, output_padding=None, **kwargs):
        super().__init__(rank, filters, kernel_size, **kwargs)
        self.output_padding = (
            None
            if output_padding is None
            else standardize_tuple(
                output_padding, rank, "output_padding", allow_zero=True
            )
        )

    def check_output_size(self, input_shape):
        """Accepts every input: a transposed convolution enlarges it.

        Its output size, `(size - 1) * stride + effective kernel size` less
        the padding, is positive for every positive input size.
        """

    def kernel_shape(self, input_shape):
        return self.kernel_size + (self.filters, self.input_channels(input_shape))

    def linear_op(self, inputs, kernel):
        return keras.ops.conv_transpose(
            inputs,
            kernel,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def compute_output_shape(self, input_shape):
        return compute_conv_transpose_output_shape(
            input_shape,
            self.kernel_size,
            self.filters,
            strides=self.strides,
            padding=self.padding,
            output_padding=self.output_padding,
            data_format=self.data_format,
            dilation_rate=self.dilation_rate,
        )

    def get_config(self):
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config
