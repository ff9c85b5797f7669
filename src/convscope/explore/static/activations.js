// The element-wise activations the page computes (units.py's ACTIVATIONS), each with its derivative,
// in float64 (the stored results are float32, as convscope's).
"use strict";

const SELU_ALPHA = 1.6732632423543772, SELU_SCALE = 1.0507009873554805;

// erf to 1.2e-7 (Numerical Recipes' erfc by Chebyshev fitting): the exact GELU needs it.
function erf(x) {
  const z = Math.abs(x), t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

const sigmoid = (v) => 1 / (1 + Math.exp(-v));
const softplus = (v) => (v > 20 ? v : Math.log1p(Math.exp(v)));
const GELU_C = Math.sqrt(2 / Math.PI);

// f(v) for an activation step {kind, and its attributes}
function activate(a, v) {
  switch (a.kind) {
    case "ReLU": return Math.max(0, v);
    case "ReLU6": return Math.min(6, Math.max(0, v));
    case "LeakyReLU": return v >= 0 ? v : a.negative_slope * v;
    case "Sigmoid": return sigmoid(v);
    case "Tanh": return Math.tanh(v);
    case "Hardtanh": return Math.min(a.max_val, Math.max(a.min_val, v));
    case "Hardswish": return (v * Math.min(6, Math.max(0, v + 3))) / 6;
    case "Hardsigmoid": return Math.min(6, Math.max(0, v + 3)) / 6;
    case "SiLU": return v * sigmoid(v);
    case "GELU": return a.approximate === "tanh" ? 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v ** 3)))
                                                 : 0.5 * v * (1 + erf(v / Math.SQRT2));
    case "Mish": return v * Math.tanh(softplus(v));
    case "ELU": return v > 0 ? v : a.alpha * Math.expm1(v);
    case "SELU": return SELU_SCALE * (v > 0 ? v : SELU_ALPHA * Math.expm1(v));
    case "CELU": return Math.max(0, v) + Math.min(0, a.alpha * Math.expm1(v / a.alpha));
  }
  return NaN;
}

// f'(v): the derivative the backward pass multiplies by (at a kink, the side convscope takes)
function activateGrad(a, v) {
  switch (a.kind) {
    case "ReLU": return v > 0 ? 1 : 0;
    case "ReLU6": return v > 0 && v < 6 ? 1 : 0;
    case "LeakyReLU": return v > 0 ? 1 : a.negative_slope;
    case "Sigmoid": { const s = sigmoid(v); return s * (1 - s); }
    case "Tanh": { const t = Math.tanh(v); return 1 - t * t; }
    case "Hardtanh": return v > a.min_val && v < a.max_val ? 1 : 0;
    case "Hardswish": return v < -3 ? 0 : v > 3 ? 1 : (2 * v + 3) / 6;
    case "Hardsigmoid": return v > -3 && v < 3 ? 1 / 6 : 0;
    case "SiLU": { const s = sigmoid(v); return s * (1 + v * (1 - s)); }
    case "GELU": {
      if (a.approximate === "tanh") {
        const u = GELU_C * (v + 0.044715 * v ** 3), t = Math.tanh(u);
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * v * v);
      }
      return 0.5 * (1 + erf(v / Math.SQRT2)) + v * Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    }
    case "Mish": { const t = Math.tanh(softplus(v)); return t + v * (1 - t * t) * sigmoid(v); }
    case "ELU": return v > 0 ? 1 : a.alpha * Math.exp(v);
    case "SELU": return SELU_SCALE * (v > 0 ? 1 : SELU_ALPHA * Math.exp(v));
    case "CELU": return v > 0 ? 1 : Math.exp(v / a.alpha);
  }
  return NaN;
}
