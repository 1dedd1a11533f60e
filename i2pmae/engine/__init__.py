"""The training machinery every task shares: one loop (``loop``), checkpoints, DDP helpers, the batch
sampler and LR schedule, seeding, logging and progress, configs and their schema, optimisers, and run
folders (``runs``). Nothing here knows about a particular task; the tasks live in :mod:`i2pmae.tasks`.
"""
