"""The fast paths of the convolutions: how `ops.conv` and its gradients are computed quickly."""
