"""What the example apps share: topic set-up, the run / generate command line, JSON records."""
