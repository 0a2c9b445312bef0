"""`python -m w2vexp.run` / `w2vexp-run`: the run command (`w2vexp.cli.run`), started so that
TensorFlow's shared libraries load while the command itself is imported."""
import sys


def main():
    """Start loading TensorFlow's libraries when the command trains in this process
    (`tfsetup.preload_tensorflow`; tfsetup does not import Hydra), then import the command --
    Hydra, OmegaConf and the config's schema, 0.2 s -- and run it. The load (0.35 s) then
    overlaps the import and Hydra's composition; started after the import, it overlapped only
    the composition, whose own imports of C extension modules waited for all of it (libc's
    loader lock: `tfsetup.EXTENSIONS_FIRST`). wiki_sample CBOW: start-up 0.93 -> 0.85 s."""
    from .tfsetup import in_process_training, preload_tensorflow

    if in_process_training(sys.argv[1:]):
        preload_tensorflow()
    from .cli.run import main as run

    return run()


if __name__ == "__main__":
    sys.exit(main())
