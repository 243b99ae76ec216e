"""DeepSDF's training objective: clamped L1 on the signed distance plus a penalty on the latent codes."""


def clamped_l1_sum(pred, target, clamp):
    """sum |clamp(pred) - clamp(target)|, clamp(x) = min(max(x, -delta), delta). pred, target: (N, 1) or (N,)."""
    return (pred.clamp(-clamp, clamp) - target.clamp(-clamp, clamp)).abs().sum()


def code_penalty_sum(codes):
    """sum of the L2 norms of the codes (N, L): the original's 'l2_size_loss' (norms, not squared norms)."""
    return codes.norm(dim=1).sum()


def regularization_weight(lam, epoch, ramp_epochs=100):
    """The original ramps the code penalty in: lambda * min(1, epoch / 100)."""
    return lam * min(1.0, epoch / ramp_epochs)
