"""The todo list example: ``flask --app examples.todos.app:create_app run``."""
