"""What a plugin is: base classes and hooks per kind, option schemas, and the registries."""
