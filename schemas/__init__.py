"""JSON Schemas of the Amazon States Language, shipped inside the wheel as statemachine.schemas."""
