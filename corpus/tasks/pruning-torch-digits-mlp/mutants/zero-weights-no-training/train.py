"""Mutant: the cheapest program that the sparsity measurement alone would pass: an optimizer
steps over an all-zero layer fed zeros, so its weights are 100% "sparse" at every step, and
nothing is ever trained or pruned."""

import torch
from torch import nn

layer = nn.Linear(64, 64)
nn.init.zeros_(layer.weight)
optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
for _ in range(100):
    optimizer.zero_grad()
    layer(torch.zeros(8, 64)).sum().backward()
    optimizer.step()
print("sparsity 1.00")
