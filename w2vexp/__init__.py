"""w2vexp: word2vec experiments in TensorFlow, managed with Hydra.

Data flows one way: config -> corpus -> batches -> graph -> checkpoints/summaries -> run folder -> tools.
Importing this package does not import TensorFlow; modules that need it import it lazily.
"""
__version__ = "0.1.0"
