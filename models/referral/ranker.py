"""The referral ranker: a diagnosis-specialty fit term plus an MLP over pair features."""

from __future__ import annotations

import torch
from torch import nn


class ReferralRanker(nn.Module):
    """Scores candidates of a referral; higher means a better expected referral.

    The fit term is a dot product of a diagnosis embedding (ICD-10 letter + 3-character
    block) and a candidate embedding (specialty + sub-specialty), so "which specialty treats
    I21" is learned from referral outcomes rather than written down as a rule. The MLP sees
    the pair's numeric features and the fit vector, for interactions such as urgency with
    waiting time.
    """

    def __init__(self, *, n_letters: int, n_blocks: int, n_specialties: int,
                 n_sub_specialties: int, n_numeric: int, dim: int = 16, hidden: int = 64,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.letter = nn.Embedding(n_letters, dim)
        self.block = nn.Embedding(n_blocks, dim)
        self.specialty = nn.Embedding(n_specialties, dim)
        self.sub_specialty = nn.Embedding(n_sub_specialties, dim)
        self.mlp = nn.Sequential(
            nn.Linear(n_numeric + dim, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, query: torch.Tensor, cand: torch.Tensor, numeric: torch.Tensor
                ) -> torch.Tensor:
        """query [B, 2], cand [B, C, 2], numeric [B, C, F] -> scores [B, C]."""
        q = self.letter(query[:, 0]) + self.block(query[:, 1])  # [B, D]
        c = self.specialty(cand[..., 0]) + self.sub_specialty(cand[..., 1])  # [B, C, D]
        inter = q.unsqueeze(1) * c
        fit = inter.sum(-1)
        return fit + self.mlp(torch.cat([numeric, inter], dim=-1)).squeeze(-1)
